"""A small ComfyUI-protocol server for the relay tests, written from ComfyUI's documented
routes: `POST /prompt`, `GET /history/{prompt_id}`, `GET /view`, `POST /upload/image`,
`POST /interrupt`, `GET|POST /queue`, and `/ws?clientId=…`, which sends a `status`
message on connect and, to the client that queued a prompt, `execution_start`, ten
`progress` events ({value, max, prompt_id}) spread over the prompt's wait and
`executing` with node null at its end. With `COMFY_TEST_NO_WS` set there is no `/ws`.

It runs workflows in ComfyUI's API format made of real ComfyUI node types: `EmptyImage`,
`LoadImage`, `ImageInvert` and `SaveImage`, one prompt at a time, after
`COMFY_TEST_DELAY` seconds (so a test can cancel one while it waits or runs).

    python -m tests.comfyui_server PORT DIR
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from PIL import Image, ImageOps
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

NODES = {"EmptyImage", "LoadImage", "ImageInvert", "SaveImage"}
STEPS = 10  # progress events per prompt


class Comfy:
    def __init__(self, root: Path, delay: float) -> None:
        self.inputs, self.outputs = root / "input", root / "output"
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.outputs.mkdir(parents=True, exist_ok=True)
        self.delay = delay
        self.lock = threading.Condition()
        self.pending: list[tuple[int, str, dict]] = []
        self.running: tuple[int, str, dict] | None = None
        self.interrupted = False
        self.history: dict[str, dict] = {}
        self.number = 0
        self.counter = 0
        self.client_of: dict[str, str] = {}  # prompt id -> the client_id it was queued with
        self.clients: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        threading.Thread(target=self._work, daemon=True).start()

    def queue(self, graph: dict, client_id: str = "") -> tuple[str, int]:
        with self.lock:
            prompt_id = str(uuid.uuid4())
            self.client_of[prompt_id] = client_id
            self.number += 1
            self.pending.append((self.number, prompt_id, graph))
            self.lock.notify()
            return prompt_id, self.number

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.pending:
                    self.lock.wait()
                self.running = self.pending.pop(0)
                self.interrupted = False
            number, prompt_id, graph = self.running
            self.send(prompt_id, "execution_start", {"prompt_id": prompt_id})
            started = time.monotonic()
            deadline, step = started + self.delay, 0
            while time.monotonic() < deadline and not self.interrupted:
                time.sleep(0.02)
                done = int(STEPS * (time.monotonic() - started) / max(self.delay, 1e-3))
                while step < min(done, STEPS):
                    step += 1
                    self.send(prompt_id, "progress", {"value": step, "max": STEPS,
                                                      "prompt_id": prompt_id, "node": None})
            try:
                if self.interrupted:
                    raise InterruptedError("Processing interrupted")
                outputs = self._execute(graph)
                status = {"status_str": "success", "completed": True, "messages": []}
            except Exception as exc:  # ComfyUI reports a node's failure in the history
                outputs = {}
                status = {"status_str": "error", "completed": False, "messages": [
                    ["execution_error", {"prompt_id": prompt_id,
                                         "node_type": getattr(exc, "node_type", ""),
                                         "exception_message": str(exc)}]]}
            with self.lock:
                self.history[prompt_id] = {"prompt": [number, prompt_id, graph, {}, []],
                                           "outputs": outputs, "status": status}
                self.running = None
            self.send(prompt_id, "executing", {"node": None, "prompt_id": prompt_id})

    def send(self, prompt_id: str, kind: str, data: dict) -> None:
        """A websocket message to the client that queued the prompt, if it is connected."""
        client = self.clients.get(self.client_of.get(prompt_id, ""))
        if client is not None:
            loop, queue = client
            loop.call_soon_threadsafe(queue.put_nowait, {"type": kind, "data": data})

    def _execute(self, graph: dict) -> dict:
        values: dict[str, list[Image.Image]] = {}
        outputs: dict[str, dict] = {}

        def value(link) -> list[Image.Image]:
            node_id = str(link[0])
            if node_id not in values:
                run(node_id)
            return values[node_id]

        def run(node_id: str) -> None:
            node = graph[node_id]
            inputs, kind = node.get("inputs", {}), node["class_type"]
            try:
                if kind == "EmptyImage":
                    color = int(inputs.get("color", 0))
                    rgb = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
                    values[node_id] = [Image.new("RGB", (int(inputs["width"]),
                                                         int(inputs["height"])), rgb)
                                       for _ in range(int(inputs.get("batch_size", 1)))]
                elif kind == "LoadImage":
                    path = self.inputs / inputs["image"]
                    values[node_id] = [Image.open(path).convert("RGB")]
                elif kind == "ImageInvert":
                    values[node_id] = [ImageOps.invert(i) for i in value(inputs["image"])]
                elif kind == "SaveImage":
                    saved = []
                    for image in value(inputs["images"]):
                        self.counter += 1
                        name = f"{inputs.get('filename_prefix', 'ComfyUI')}_{self.counter:05}_.png"
                        image.save(self.outputs / name)
                        saved.append({"filename": name, "subfolder": "", "type": "output"})
                    outputs[node_id] = {"images": saved}
                    values[node_id] = []
            except Exception as exc:
                if not hasattr(exc, "node_type"):  # the node that failed, not its consumers
                    exc.node_type = kind  # type: ignore[attr-defined]
                raise

        for node_id, node in graph.items():
            if node["class_type"] == "SaveImage":
                run(node_id)
        return outputs


def build(root: Path, delay: float) -> Starlette:
    comfy = Comfy(root, delay)

    async def prompt(request: Request) -> Response:
        body = await request.json()
        graph = body.get("prompt")
        if not isinstance(graph, dict) or not graph:
            return JSONResponse({"error": {"type": "invalid_prompt", "message":
                                           "no prompt", "details": ""}, "node_errors": {}}, 400)
        for node_id, node in graph.items():
            if not isinstance(node, dict) or node.get("class_type") not in NODES:
                return JSONResponse({"error": {
                    "type": "invalid_prompt", "message": f"Cannot execute because node "
                    f"{node.get('class_type') if isinstance(node, dict) else node_id} does "
                    "not exist.", "details": f"Node ID '#{node_id}'"}, "node_errors": {}}, 400)
        prompt_id, number = comfy.queue(graph, str(body.get("client_id") or ""))
        return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def history(request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        with comfy.lock:
            found = comfy.history.get(prompt_id)
        return JSONResponse({prompt_id: found} if found else {})

    async def view(request: Request) -> Response:
        name = request.query_params.get("filename", "")
        folder = comfy.outputs if request.query_params.get("type") == "output" else comfy.inputs
        path = folder / os.path.basename(name)
        if not name or not path.is_file():
            return Response(status_code=404)
        return Response(path.read_bytes(), media_type="image/png")

    async def upload(request: Request) -> Response:
        body = await request.body()
        header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(header + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "image":
                name = os.path.basename(part.get_filename() or "upload.png")
                Image.open(io.BytesIO(part.get_payload(decode=True))).verify()
                (comfy.inputs / name).write_bytes(part.get_payload(decode=True))
                return JSONResponse({"name": name, "subfolder": "", "type": "input"})
        return Response("no image", status_code=400)

    async def interrupt(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        with comfy.lock:
            running = comfy.running
            if running and body.get("prompt_id") in (None, running[1]):
                comfy.interrupted = True
        return Response(status_code=200)

    async def queue(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            with comfy.lock:
                if body.get("clear"):
                    comfy.pending.clear()
                deleted = set(body.get("delete") or [])
                comfy.pending = [p for p in comfy.pending if p[1] not in deleted]
            return Response(status_code=200)
        with comfy.lock:
            running = [list(comfy.running[:3])] if comfy.running else []
            pending = [list(p) for p in comfy.pending]
        return JSONResponse({"queue_running": running, "queue_pending": pending})

    async def ws(websocket: WebSocket) -> None:
        client_id = websocket.query_params.get("clientId") or uuid.uuid4().hex
        await websocket.accept()
        queue: asyncio.Queue = asyncio.Queue()
        comfy.clients[client_id] = (asyncio.get_running_loop(), queue)
        try:
            with comfy.lock:
                remaining = len(comfy.pending) + (comfy.running is not None)
            await websocket.send_json({"type": "status", "data": {
                "status": {"exec_info": {"queue_remaining": remaining}}, "sid": client_id}})

            async def pump() -> None:
                while True:
                    await websocket.send_json(await queue.get())

            # Sends from a task of its own; this one waits for the close (the client's or
            # the server's on shutdown), which a handler blocked on the queue would miss.
            sender = asyncio.create_task(pump())
            try:
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                sender.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            if comfy.clients.get(client_id, (None, None))[1] is queue:
                del comfy.clients[client_id]

    websockets = [] if os.environ.get("COMFY_TEST_NO_WS") else [WebSocketRoute("/ws", ws)]
    return Starlette(routes=[
        *websockets,
        Route("/prompt", prompt, methods=["POST"]),
        Route("/history/{prompt_id}", history),
        Route("/view", view),
        Route("/upload/image", upload, methods=["POST"]),
        Route("/interrupt", interrupt, methods=["POST"]),
        Route("/queue", queue, methods=["GET", "POST"]),
    ])


if __name__ == "__main__":
    import uvicorn

    port, root = int(sys.argv[1]), Path(sys.argv[2])
    uvicorn.run(build(root, float(os.environ.get("COMFY_TEST_DELAY", "0.3"))),
                host="127.0.0.1", port=port, log_level="warning")
