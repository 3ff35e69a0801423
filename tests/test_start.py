"""A start without surprises: `make run` and the environment, a taken port, the first
lines, offline docs with an example per model, and the messages a first mistake gets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import KEYS, REPO, LiveServer, free_port

KEYS_ENV = ",".join(f"{name}:{key}" for name, key in KEYS.items())


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENMILL_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "genmill", "serve", "--workers", "0", *args]


class Started:
    """A process that should come up and serve; stopped (its whole group) at the end."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"never healthy at {url}:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with no workers: what these tests submit stays queued and costs no CPU."""
    live = LiveServer(tmp_path_factory.mktemp("idle") / "data", workers=0).start()
    yield live
    live.stop()


@pytest.fixture
def started(tmp_path):
    processes: list[Started] = []

    def start(command: list[str], env: dict[str, str]) -> Started:
        process = Started(command, env, tmp_path / f"log-{len(processes)}.txt")
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


# -- make run ---------------------------------------------------------------------------

def test_make_run_listens_where_the_environment_says(tmp_path, started):
    """The Makefile's own `run` recipe; the test's Python environment stands in for the
    .venv it would create (VENV and BIN are the Makefile's variables)."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-run").touch()  # newer than pyproject.toml: no pip install
    port = free_port()
    make = started(
        ["make", "--no-print-directory", "run", f"VENV={venv}",
         f"BIN={Path(sys.executable).parent}"],
        _env(GENMILL_PORT=str(port), GENMILL_DATA_DIR=str(tmp_path / "data"),
             GENMILL_WORKERS="0"),
    )
    make.wait_healthy(f"http://127.0.0.1:{port}")
    assert (tmp_path / "data" / "genmill.db").exists()
    assert f"listening on http://127.0.0.1:{port} " in make.log()


# -- a port already in use --------------------------------------------------------------

def _holder(family: socket.AddressFamily, address: str) -> socket.socket:
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.bind((address, 0))
    holder.listen()
    return holder


@pytest.mark.parametrize("family,held,host", [
    (socket.AF_INET, "127.0.0.1", "127.0.0.1"),
    (socket.AF_INET, "127.0.0.1", "localhost"),  # a name, resolved as the server would
    (socket.AF_INET6, "::1", "::1"),
    (socket.AF_INET6, "::1", "[::1]"),
    (socket.AF_INET, "127.0.0.1", "::"),  # dual stack: an IPv4 listener conflicts too
    (socket.AF_INET, "0.0.0.0", "127.0.0.1"),  # a wildcard listener covers the address
], ids=["v4", "name", "v6", "v6-brackets", "dual-stack", "wildcard-held"])
def test_a_port_another_program_holds_fails_at_once_in_one_line(tmp_path, family, held,
                                                                  host):
    with _holder(family, held) as holder:
        port = holder.getsockname()[1]
        result = subprocess.run(
            _serve_command("--host", host, "--port", str(port),
                           "--data-dir", str(tmp_path / "data")),
            cwd=REPO, env=_env(GENMILL_API_KEYS=KEYS_ENV), capture_output=True, text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"genmill: port {port} is already in use; set GENMILL_PORT "
                             "(or --port) to a free port\n")
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # refused before the database or any worker


def test_a_port_taken_after_the_check_is_still_one_line(tmp_path):
    """The window between genmill's check and granian's own bind: granian's error (a Rust
    backtrace) becomes the same one-line refusal."""
    with _holder(socket.AF_INET, "127.0.0.1") as holder:
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c",
             "from genmill.config import Settings\n"
             "from genmill.server import run_http\n"
             "from genmill.startup.port import PortUnavailable\n"
             "try:\n"
             f"    run_http(Settings(port={port}), 'granian', '127.0.0.1')\n"
             "except PortUnavailable as exc:\n"
             "    print('refused:', exc)\n"],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60,
        )
    assert result.stdout.splitlines()[-1] == (  # after granian's own "Starting" line
        f"refused: port {port} is already in use; set GENMILL_PORT (or --port) to a free "
        "port"), result.stderr
    assert "backtrace" not in (result.stdout + result.stderr).lower()


def test_two_servers_started_together_on_one_port_one_serves(tmp_path, started):
    """granian binds with SO_REUSEPORT: without genmill's own claim both would come up and
    share the port. Started at the same moment, both pass any check made before the
    other binds, unless the check holds a lock: exactly one may serve."""
    port = free_port()
    servers = [started(_serve_command("--port", str(port), "--data-dir",
                                      str(tmp_path / f"data-{i}")), _env())
               for i in range(2)]
    deadline = time.monotonic() + 60
    while all(s.process.poll() is None for s in servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    losers = [s for s in servers if s.process.poll() is not None]
    assert len(losers) == 1, [s.log() for s in servers]
    [loser] = losers
    [winner] = [s for s in servers if s is not loser]
    assert loser.process.returncode == 2
    assert loser.log() == (f"genmill: port {port} is already in use; set GENMILL_PORT "
                           "(or --port) to a free port\n")
    winner.wait_healthy(f"http://127.0.0.1:{port}")
    # The winner alone answers: every connection lands on its data directory.
    for _ in range(5):
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200
    assert winner.process.poll() is None


# -- the first lines --------------------------------------------------------------------

def test_first_lines_say_where_it_listens_the_data_the_docs_and_keys(tmp_path, started):
    port = free_port()
    data = tmp_path / "data"
    server = started(_serve_command("--host", "localhost", "--port", str(port),
                                    "--data-dir", str(data)),
                     _env(GENMILL_API_KEYS=KEYS_ENV))
    server.wait_healthy(f"http://127.0.0.1:{port}")  # a host name works: granian takes none
    first = server.log().splitlines()[:4]
    assert first[0].startswith(f"genmill 0.1.0 listening on http://127.0.0.1:{port} (")
    assert first[1] == f"  data: {data.resolve()} (SQLite database genmill.db and task files)"
    assert first[2] == f"  docs: http://127.0.0.1:{port}/docs"
    assert first[3].startswith("  keys: required (2: alice, bob)")
    assert all(key not in server.log() for key in KEYS.values())


def test_open_server_says_no_key_is_needed_and_hides_a_database_password(tmp_path, started):
    port = free_port()
    url = "postgresql://genmill:hunter2@127.0.0.1:1/genmill"  # never reached: it only shows
    process = subprocess.run(
        [sys.executable, "-c",
         "from genmill.config import Settings;"
         "from genmill.startup.banner import banner_lines;"
         "from genmill.startup.port import Listener;"
         f"print('\\n'.join(banner_lines(Settings(), Listener('::1', '::1', {port}), 'x')))"],
        cwd=REPO, env=_env(GENMILL_DATABASE_URL=url, GENMILL_WORKERS="1"),
        capture_output=True, text=True, timeout=60,
    )
    lines = process.stdout.splitlines()
    assert lines[0] == f"genmill 0.1.0 listening on http://[::1]:{port} (x, 1 worker)"
    assert "hunter2" not in process.stdout and "genmill:***@127.0.0.1:1" in lines[1]
    assert lines[3].startswith("  keys: none required")


# -- /docs works offline ----------------------------------------------------------------

class _References(HTMLParser):
    """Every URL an HTML page would load: src/href attributes and URLs in inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline = ""
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag in ("script", "style")
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline += data


def test_docs_load_nothing_from_another_host(server):
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:  # public: no key
        page = anonymous.get("/docs")
        assert page.status_code == 200
        found = _References()
        found.feed(page.text)
        assert len(found.urls) >= 2  # the script and the stylesheet, at least
        assert re.findall(r"""https?://|//[a-z]""", found.inline) == []
        assert "validatorUrl" in found.inline  # no badge fetched from validator.swagger.io
        kinds = set()
        for url in found.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, url  # same origin only
            asset = anonymous.get(url)
            assert asset.status_code == 200, url
            kinds.add(asset.headers["content-type"].split(";")[0])
            if url.endswith(".js"):
                assert "SwaggerUIBundle" in asset.text
        assert {"text/javascript", "text/css"} <= kinds
        [spec_url] = re.findall(r"""url: ?['"]([^'"]+)['"]""", found.inline)
        assert anonymous.get(spec_url).json()["openapi"].startswith("3.")
        # Only the bundle's own files: no path reaches the file system.
        for bad in ("index.html", "swagger-ui.js", "favicon-16x16.png"):
            assert anonymous.get(f"/docs/assets/{bad}").status_code == 404, bad
        # A slash (even encoded) leaves the public pattern: the private default answers.
        assert anonymous.get("/docs/assets/..%2F__init__.py").status_code == 401
    with server.client() as alice:
        assert alice.get("/redoc").status_code == 404  # ReDoc would need a CDN


def test_openapi_has_an_example_per_model_that_the_server_accepts(server):
    spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
    with server.client() as alice:
        models = alice.get("/v1/models").json()["data"]
        by_kind: dict[str, set[str]] = {}
        for model in models:
            by_kind.setdefault(model["kind"], set()).add(model["id"])
        paths = {"image": "/v1/images/generations/async", "video": "/v1/video/generations",
                 "3d": "/v1/3d/generations"}
        labels = {"image": "an image", "video": "a video", "3d": "a 3D"}
        for kind, path in paths.items():
            operation = spec["paths"][path]["post"]
            assert operation["summary"] == f"Submit {labels[kind]} generation task"
            examples = operation["requestBody"]["content"]["application/json"]["examples"]
            assert set(examples) == by_kind[kind]
            for model_id, example in examples.items():
                body = example["value"]
                assert body["model"] == model_id and "prompt" in body
                answer = alice.post(path, json=body)
                assert answer.status_code == 200, (model_id, answer.text)
                assert answer.json()["data"]["task_id"].startswith(f"{kind}_")
        status = spec["paths"]["/v1/images/generations/async/{task_id}"]["get"]
        assert status["summary"] == "Query an image generation task"


# -- first mistakes ---------------------------------------------------------------------

def test_an_unknown_param_names_the_closest_known_one(server):
    with server.client() as alice:
        answer = alice.post("/v1/images/generations/async",
                            json={"model": "test/steps-t2i", "prompt": "x", "sizee": "64x64"})
        assert answer.status_code == 400
        body = answer.json()
        assert body["message"] == "sizee: unknown parameter; did you mean size?"
        assert body["data"] is None and body["error"]["message"] == body["message"]
        far = alice.post("/v1/images/generations/async",
                         json={"model": "test/steps-t2i", "prompt": "x", "zzzz": 1}).json()
        assert far["message"].startswith("zzzz: unknown parameter for this model")


def test_client_task_has_task_id_as_the_wire_does(server):
    from genmill.client import Client

    with Client(server.url, KEYS["alice"], poll_interval=0.05) as client:
        task_id = client.submit("image", "test/steps-t2i", "x", steps=1)
        task = client.get(task_id)
    assert task.task_id == task_id and task.id == task_id
    assert task.to_dict()["task_id"] == task_id


def test_example_body_is_built_from_the_params_schema_alone():
    from typing import Literal

    from pydantic import Field

    from genmill.api.schemas import EXAMPLE_IMAGE_URL, example_body
    from genmill.engines import BaseParams, Mode, ModelSpec

    class Params(BaseParams):
        prompt: str = Field("", examples=["Quarterly Review"])
        style: Literal["ink", "oil"] | None = None
        count: int = 3
        label: str

    spec = ModelSpec(id="t/x", mode=Mode.IMAGE_TO_IMAGE, params=Params, factory=lambda: None)
    body = example_body(spec)
    assert body == {"model": "t/x", "prompt": "Quarterly Review", "seed": -1, "style": "ink",
                    "count": 3, "label": "your label", "image": EXAMPLE_IMAGE_URL}
    Params.model_validate({k: v for k, v in body.items() if k not in ("model", "image")})
