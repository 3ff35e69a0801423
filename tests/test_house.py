"""The house rules: routes private unless public, the Storage protocol, plug-ins by
entry point, and the one import a plug-in needs."""

from __future__ import annotations

import asyncio
import io
import re

import httpx
import pytest
from PIL import Image

from tests.conftest import REPO, wait_final

TASK_ID = "image_" + "0" * 32
# The only routes a caller without a key may reach. Adding one here is a decision.
EXPECTED_PUBLIC = {
    "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect",
    "/docs/assets/{name}", "/tasks/{task_id}/{name}", "/", "/dashboard/{name:path}",
}


def _routes(tmp_path) -> list[tuple[str, set[str]]]:
    from genmill.api.app import create_app
    from genmill.config import Settings

    app = create_app(Settings(data_dir=tmp_path / "routes", api_keys={"a": "k"},
                              _env_file=None))
    found = list(_walk(app.routes))
    assert len(found) > 15  # the walk sees the whole app, not an empty router
    return found


def _walk(routes):
    """Every endpoint, through FastAPI's included routers (mounted without a prefix)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _walk(route.original_router.routes)
        elif getattr(route, "methods", None):
            yield route.path, set(route.methods)


def _concrete(path: str) -> str:
    path = path.replace("{task_id}", TASK_ID).replace("{name}", "x.png")
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_needs_a_key_unless_it_is_public(server, tmp_path):
    from genmill.api.auth import is_public

    routes = _routes(tmp_path)
    public = {path for path, _ in routes if is_public(_concrete(path))}
    assert public == EXPECTED_PUBLIC
    checked = 0
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        for path, methods in routes:
            for method in sorted(methods):
                answer = anonymous.request(method, _concrete(path))
                if path in public:
                    assert answer.status_code != 401, (method, path)
                else:
                    assert answer.status_code == 401, (method, path, answer.status_code)
                    if method != "HEAD":
                        local = path.startswith("/api/v1")
                        body = answer.json()
                        assert (body["status"] if local else body["error"]["code"]) in (
                            401, "unauthorized"), body
                    checked += 1
                # A wrong key is refused the same way.
                wrong = anonymous.request(method, _concrete(path),
                                          headers={"Authorization": "Bearer nope"})
                assert (wrong.status_code == 401) == (path not in public), (method, path)
    assert checked > 10


def test_public_routes_still_work_without_a_key(server):
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get(f"/tasks/{TASK_ID}/x.png").status_code == 404
        # Traversal through the public file route reaches nothing.
        assert anonymous.get(f"/tasks/{TASK_ID}/..%2F..%2Fgenmill.db").status_code in (401, 404)


# -- Storage ---------------------------------------------------------------------------


def test_local_storage_keeps_the_storage_protocol(tmp_path):
    from genmill.storage import Storage
    from genmill.storage.local import LocalStorage

    storage = LocalStorage(tmp_path)
    assert isinstance(storage, Storage)
    staging = storage.new_staging(TASK_ID)
    (staging / "a.bin").write_bytes(b"0123456789")
    (staging / "scratch.tmp").write_bytes(b"left out")
    assert storage.stat_output(TASK_ID, "a.bin") is None  # nothing before the commit
    storage.commit(TASK_ID, staging, ["a.bin"])
    file = storage.stat_output(TASK_ID, "a.bin")
    assert file is not None and file.size == 10 and file.etag.startswith('"')
    assert storage.stat_output(TASK_ID, "scratch.tmp") is None
    assert b"".join(storage.read_range(file, 2, 5)) == b"234"
    assert b"".join(storage.read_range(file, 0, None, chunk_size=3)) == b"0123456789"
    async def streamed():
        return b"".join([chunk async for chunk in storage.stream_range(file, 1, 4)])
    assert asyncio.run(streamed()) == b"123"
    assert storage.read_output(TASK_ID, "a.bin") == b"0123456789"
    assert storage.redirect_url(file) is None
    assert storage.redirect_url(file, 'attachment; filename="a.bin"') is None
    for bad in ("../genmill.db", ".hidden", "a/b", "a\u2215b", ""):
        assert storage.stat_output(TASK_ID, bad) is None
        assert storage.read_output(TASK_ID, bad) is None
    assert storage.stat_output("../etc", "passwd") is None
    storage.save_input(TASK_ID, "image.png", b"png")
    assert storage.read_input(TASK_ID, "image.png") == b"png"
    assert list(storage.task_ids()) == [TASK_ID]
    with pytest.raises(ValueError):
        storage.commit(TASK_ID, storage.new_staging(TASK_ID), ["missing.png"])
    storage.delete_task(TASK_ID)
    assert storage.stat_output(TASK_ID, "a.bin") is None and list(storage.task_ids()) == []


def test_outputs_of_a_storage_without_local_files_are_proxied_with_ranges(tmp_path):
    asyncio.run(_proxied_with_ranges(tmp_path))


async def _proxied_with_ranges(tmp_path):
    """The serving path an object store takes: no sendfile path, bytes read in ranges."""
    from dataclasses import replace

    from genmill.api.app import create_app
    from genmill.config import Settings
    from genmill.storage.local import LocalStorage

    class Remote(LocalStorage):
        def stat_output(self, task_id, name):
            found = super().stat_output(task_id, name)
            return None if found is None else replace(found, sendfile_path=None)

    app = create_app(Settings(data_dir=tmp_path, _env_file=None))
    storage = app.state.components.storage = Remote(tmp_path)
    staging = storage.new_staging(TASK_ID)
    blob = bytes(range(256)) * 40
    (staging / "clip.mp4").write_bytes(blob)
    storage.commit(TASK_ID, staging, ["clip.mp4"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        whole = await client.get(f"/tasks/{TASK_ID}/clip.mp4")
        assert whole.status_code == 200 and whole.content == blob
        assert whole.headers["content-type"] == "video/mp4"
        part = await client.get(f"/tasks/{TASK_ID}/clip.mp4", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == blob[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(blob)}"
        tail = await client.get(f"/tasks/{TASK_ID}/clip.mp4", headers={"Range": "bytes=-5"})
        assert tail.content == blob[-5:]
        past = await client.get(f"/tasks/{TASK_ID}/clip.mp4",
                                headers={"Range": f"bytes={len(blob)}-"})
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{len(blob)}"
        cached = await client.get(f"/tasks/{TASK_ID}/clip.mp4",
                                  headers={"If-None-Match": whole.headers["etag"]})
        assert cached.status_code == 304
        head = await client.head(f"/tasks/{TASK_ID}/clip.mp4")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(blob))
    app.state.components.close()


def test_an_output_that_cannot_be_read_gets_an_error_that_names_it(tmp_path, monkeypatch):
    asyncio.run(_unreadable_outputs(tmp_path, monkeypatch))


async def _unreadable_outputs(tmp_path, monkeypatch):
    """Found, then unreadable: removed since its stat, EIO, no permission (as root a
    chmod is ignored, so the open is made to fail), an object store gone mid-request.
    Each answer is an error in the path's dialect that names the output, never a 200 cut
    short or a traceback."""
    import errno
    import os
    import time
    from dataclasses import replace

    from genmill.api.app import create_app
    from genmill.config import Settings
    from genmill.domain import Kind, Status, Task
    from genmill.storage.local import LocalStorage

    class Vanishing(LocalStorage):
        """Deletes a file named gone-* right after its stat: a delete racing a GET."""

        def stat_output(self, task_id, name):
            found = super().stat_output(task_id, name)
            if found is not None and name.startswith("gone"):
                found.sendfile_path.unlink()
            return found

    class StoreDown(LocalStorage):
        def stat_output(self, task_id, name):
            found = super().stat_output(task_id, name)
            return None if found is None else replace(found, sendfile_path=None)

        async def stream_range(self, file, start=0, end=None):
            raise OSError(f"s3://bucket: connection refused reading {file.name}")
            yield b""  # an async generator, like the real one

    app = create_app(Settings(data_dir=tmp_path, _env_file=None))
    parts = app.state.components
    storage = parts.storage = Vanishing(tmp_path)
    now = time.time()
    parts.store.insert(Task(id=TASK_ID, kind=Kind.IMAGE, action=Kind.IMAGE.action,
                            model="m", owner="", status=Status.SUCCESS, params={},
                            outputs=["eio.png", "gone.png", "perm.png"], submit_time=now,
                            finish_time=now, attempts=1, max_attempts=1, time_limit=60))
    staging = storage.new_staging(TASK_ID)
    for name in ("eio.png", "gone.png", "perm.png"):
        (staging / name).write_bytes(b"\x89PNG not readable")
    storage.commit(TASK_ID, staging, ["eio.png", "gone.png", "perm.png"])
    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        for name, error in (("eio.png", errno.EIO), ("perm.png", errno.EACCES)):
            if str(path).endswith(name):
                raise OSError(error, os.strerror(error), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        eio = await client.get(f"/tasks/{TASK_ID}/eio.png")
        assert eio.status_code == 503 and eio.headers["retry-after"] == "5"
        assert eio.json()["error"]["message"] == (
            f"output 'eio.png' of task {TASK_ID} cannot be read right now "
            "(Input/output error); retry later")
        local = await client.get(f"/api/v1/download/{TASK_ID}/eio.png")
        assert local.status_code == 503 and local.json()["message"] == eio.json()["message"]
        assert "Traceback" not in local.text and "content-disposition" not in local.headers
        perm = await client.get(f"/api/v1/stream/{TASK_ID}/perm.png",
                                headers={"Range": "bytes=0-3"})
        assert perm.status_code == 500 and perm.json() == {
            "status": 500, "data": None,
            "message": f"output 'perm.png' of task {TASK_ID} cannot be read: the server "
                       "is not allowed to open it"}
        gone = await client.get(f"/tasks/{TASK_ID}/gone.png")
        assert gone.status_code == 404
        assert gone.json()["message"] == f"no file 'gone.png' for task {TASK_ID}"
        parts.storage = StoreDown(tmp_path)
        down = await client.get(f"/api/v1/stream/{TASK_ID}/eio.png")
        assert down.status_code == 503 and down.json()["message"] == (
            f"output 'eio.png' of task {TASK_ID} cannot be read right now (storage "
            "unavailable); retry later")
    parts.close()


# -- Plug-ins --------------------------------------------------------------------------


def _example_plugin() -> str:
    text = (REPO / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(block for block in blocks if "MODELS = [" in block)


def test_the_documented_plugin_installs_by_entry_point_and_runs(tmp_path, make_server):
    site = tmp_path / "site"
    (site / "acme_gradient-1.0.dist-info").mkdir(parents=True)
    (site / "acme_gradient.py").write_text(_example_plugin())
    (site / "acme_gradient-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-gradient\nVersion: 1.0\n")
    (site / "acme_gradient-1.0.dist-info" / "entry_points.txt").write_text(
        "[genmill.engines]\nacme = acme_gradient\n")
    assert "genmill.core" not in _example_plugin()

    server = make_server(workers=1, env={"PYTHONPATH": f"{REPO}:{site}"}).start()
    with server.client() as client:
        models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
        assert models["acme/gradient-t2i"]["tag"] == "text-to-image"
        assert "bottom" in models["acme/gradient-t2i"]["params"]["properties"]
        bad = client.post("/v1/images/generations/async",
                          json={"model": "acme/gradient-t2i", "top": "red"})
        assert bad.status_code == 400 and "top" in bad.json()["message"]
        task_id = client.post("/v1/images/generations/async", json={
            "model": "acme/gradient-t2i", "width": 64, "height": 128,
            "top": "#ff0000", "bottom": "#0000ff"}).json()["task_id"]
        data = wait_final(client, f"/v1/images/generations/async/{task_id}")
        assert data["status"] == "SUCCESS", data
        image = Image.open(io.BytesIO(client.get(data["outputs"][0]).content)).convert("RGB")
    assert image.size == (64, 128)
    assert image.getpixel((10, 0)) == (255, 0, 0)
    assert image.getpixel((10, 127)) == (0, 0, 255)


def test_the_plugin_api_is_one_import():
    import genmill.engines as api

    for name in ("Engine", "ModelSpec", "Mode", "RunContext", "Inputs", "InputError",
                 "Canceled", "BaseParams", "ImageParams", "VideoParams", "MeshParams"):
        assert hasattr(api, name), name
