"""`engine = "comfyui"`: a ComfyUI server running the entry's workflow (API format).

`bind` maps genmill params to workflow inputs ("node id.input name"). An input image is
uploaded with `POST /upload/image`; the run is `POST /prompt`; `GET /history/{id}` is
polled until the prompt is there (done or failed); outputs come from `GET /view`.
Progress comes from ComfyUI's websocket (`/ws?clientId=…`, `progress` events of the
prompts this relay queued under its client id); where the websocket cannot connect the
task shows no progress until it ends, and /history polling goes on either way.
Cancel deletes the prompt from the queue (`POST /queue`) and interrupts it if running
(`POST /interrupt` with its prompt id).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from genmill.engines.base import InputFile, ModelSpec
from genmill.engines.models_file.entry import EntryBase
from genmill.engines.params import MAX_SEED
from genmill.engines.relays.entry import RelayEntry, relay_spec
from genmill.engines.relays.errors import UpstreamError, UpstreamUnavailable
from genmill.engines.relays.http import Form, UpstreamHTTP
from genmill.engines.relays.upstream import KeyedUpstream, Poll

# The params a workflow may bind, with their bounds; none bound: the workflow as saved.
BINDABLE: dict[str, tuple[type, Any]] = {
    "prompt": (str, Field(None, max_length=10_000)),
    "negative_prompt": (str, Field(None, max_length=10_000)),
    "seed": (int, Field(None, ge=-1, le=MAX_SEED)),
    "width": (int, Field(None, ge=16, le=8192)),
    "height": (int, Field(None, ge=16, le=8192)),
    "num_inference_steps": (int, Field(None, ge=1, le=500)),
    "guidance_scale": (float, Field(None, ge=0, le=100)),
}
OUTPUT_LISTS = ("images", "gifs", "videos", "audio", "3d")
WATCH_BACKOFF = (1.0, 30.0)  # the first and the longest wait before connecting again
log = logging.getLogger("genmill.relay")


class ComfyEntry(RelayEntry):
    workflow: Path
    bind: dict[str, str] = {}

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if name not in BINDABLE and name != "image":
                raise ValueError(f"{name}: not a bindable param; one of: "
                                 f"{', '.join([*BINDABLE, 'image'])}")
            if target.count(".") < 1 or not all(target.split(".", 1)):
                raise ValueError(f"{name}: {target!r} is not 'node id.input name'")
        return value


def load_workflow(entry: ComfyEntry) -> dict[str, Any]:
    try:
        workflow = json.loads(entry.workflow.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"workflow: cannot read {str(entry.workflow)!r}: {exc}") from None
    if not isinstance(workflow, dict) or not all(
            isinstance(node, dict) and "class_type" in node for node in workflow.values()):
        raise ValueError("workflow: not ComfyUI's API format (node id -> {class_type, inputs}); "
                         "export it with 'Save (API Format)'")
    for name, target in entry.bind.items():
        node, _, field = target.partition(".")
        if node not in workflow:
            raise ValueError(f"bind.{name}: the workflow has no node {node!r}")
        if field not in workflow[node].get("inputs", {}):
            raise ValueError(f"bind.{name}: node {node} has no input {field!r}")
    return workflow


def comfy_params(entry: ComfyEntry) -> type[BaseModel]:
    fields = {name: (spec[0] | None, spec[1]) for name, spec in BINDABLE.items()
              if name in entry.bind}
    name = "Comfy_" + "".join(c if c.isalnum() else "_" for c in entry.id)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


class ComfyRelay(KeyedUpstream):
    can_cancel = True

    def __init__(self, entry: ComfyEntry, workflow: dict[str, Any]) -> None:
        super().__init__(entry.base_url, entry.api_key_env, entry.upstream)
        self.entry, self.workflow = entry, workflow
        self.poll_interval = entry.poll_interval or 1.0
        self.max_retries = entry.max_retries
        self.client_id = f"genmill-{secrets.token_hex(8)}"
        self.live: dict[str, int] = {}  # prompt id -> percent, from websocket events

    async def watch(self, http: UpstreamHTTP) -> None:
        """Keep ComfyUI's websocket open and note each prompt's progress from it."""
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        url = f"{scheme}{self.base_url[self.base_url.index(':'):]}/ws?clientId={self.client_id}"
        delay = WATCH_BACKOFF[0]
        while True:
            try:
                async for message in http.messages(url, self.headers()):
                    delay = WATCH_BACKOFF[0]
                    self._note(message)
            except (UpstreamUnavailable, UpstreamError) as exc:
                log.debug("%s: no websocket (%s); progress waits for /history", self.upstream,
                          exc)
            await asyncio.sleep(delay)
            delay = min(WATCH_BACKOFF[1], delay * 2)

    def _note(self, message: object) -> None:
        if not isinstance(message, dict) or message.get("type") != "progress":
            return
        data = message.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("prompt_id"), str):
            return
        value, most = data.get("value"), data.get("max")
        if isinstance(value, int | float) and isinstance(most, int | float) and most > 0:
            # One workflow may run several sampling nodes, each counting from zero:
            # progress never goes back.
            percent = int(min(max(value / most, 0), 1) * 99)
            self.live[data["prompt_id"]] = max(percent, self.live.get(data["prompt_id"], 0))

    def headers(self) -> dict[str, str]:
        key = self.key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _set(self, graph: dict[str, Any], name: str, value: Any) -> None:
        node, _, field = self.entry.bind[name].partition(".")
        graph[node]["inputs"][field] = value

    async def _upload(self, http: UpstreamHTTP, item: InputFile, task_id: str) -> str:
        extension = (item.content_type.split("/")[-1] or "png").replace("jpeg", "jpg")
        form = Form(fields={"overwrite": "true", "type": "input"},
                    files={"image": (f"{task_id}.{extension}", item.data, item.content_type)})
        response = await http.request("POST", self.url("/upload/image"), self.headers(),
                                      form=form)
        if response.status == 429 or response.status >= 500:
            raise UpstreamUnavailable(f"HTTP {response.status}")
        if response.status >= 400:
            raise UpstreamError(f"upload refused: HTTP {response.status}")
        try:
            stored = response.json()
        except ValueError:
            raise UpstreamError("the upload answer is not JSON") from None
        subfolder = stored.get("subfolder") or ""
        return f"{subfolder}/{stored['name']}" if subfolder else stored["name"]

    async def submit(self, http: UpstreamHTTP, task_id: str, params: dict[str, Any],
                     inputs: dict[str, list[InputFile]]) -> str:
        graph = copy.deepcopy(self.workflow)
        for name in BINDABLE:
            if name in self.entry.bind and params.get(name) is not None:
                self._set(graph, name, params[name])
        images = [*inputs.get("image", []), *inputs.get("images", [])]
        if images and "image" in self.entry.bind:
            self._set(graph, "image", await self._upload(http, images[0], task_id))
        document = await self.call(http, "POST", "/prompt", self.headers(),
                                   {"prompt": graph, "client_id": self.client_id})
        if document.get("node_errors"):
            raise UpstreamError(f"the workflow was refused: {document['node_errors']}")
        prompt_id = document.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise UpstreamError("the /prompt answer has no prompt_id")
        return prompt_id

    async def poll(self, http: UpstreamHTTP, upstream_id: str) -> Poll:
        document = await self.call(http, "GET", f"/history/{upstream_id}", self.headers())
        entry = document.get(upstream_id)
        if not isinstance(entry, dict):  # queued or running: history has it once done
            return Poll(state="running", progress=self.live.get(upstream_id, 0))
        self.live.pop(upstream_id, None)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            return Poll(state="failure", fail_reason=_execution_error(status))
        outputs = []
        for node_output in (entry.get("outputs") or {}).values():
            for kind in OUTPUT_LISTS:
                for item in node_output.get(kind) or []:
                    if isinstance(item, dict) and item.get("type", "output") == "output":
                        query = urlencode({"filename": item["filename"],
                                           "subfolder": item.get("subfolder", ""),
                                           "type": "output"})
                        outputs.append(self.url(f"/view?{query}"))
        return Poll(state="success", progress=100, outputs=outputs)

    async def cancel(self, http: UpstreamHTTP, upstream_id: str) -> bool:
        self.live.pop(upstream_id, None)
        queued = await http.request("POST", self.url("/queue"), self.headers(),
                                    json={"delete": [upstream_id]})
        running = await http.request("POST", self.url("/interrupt"), self.headers(),
                                     json={"prompt_id": upstream_id})
        return queued.status < 300 and running.status < 300


def _execution_error(status: dict[str, Any]) -> str:
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            details = message[1] or {}
            return f"{details.get('node_type', 'a node')}: {details.get('exception_message', '')}"
    return "the workflow failed"


class ComfyKind:
    entry = ComfyEntry

    def check_available(self) -> str | None:
        return None

    def build(self, entry: EntryBase) -> ModelSpec:
        assert isinstance(entry, ComfyEntry)
        workflow = load_workflow(entry)
        return relay_spec(entry, comfy_params(entry), ComfyRelay(entry, workflow),
                          f"the workflow {entry.workflow.name} on ComfyUI at {entry.upstream}")


KIND = ComfyKind()
