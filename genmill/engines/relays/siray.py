"""`engine = "siray"`: a Siray-compatible API (Siray, a new-api gateway, another genmill).

Submits to the image, video or 3D endpoint of the entry's mode, polls the matching status
endpoint (shared/reference/siray-*-task-status.txt), and cancels through genmill's
`POST /v1/tasks/{id}/cancel` where the upstream has it.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urljoin

from pydantic import Field

from genmill.engines.base import InputFile, ModelSpec
from genmill.engines.models_file.entry import EntryBase
from genmill.engines.relays.entry import RelayEntry, relay_params, relay_spec
from genmill.engines.relays.errors import UpstreamError
from genmill.engines.relays.http import UpstreamHTTP
from genmill.engines.relays.upstream import KeyedUpstream, Poll, parse_percent

# Submit path and status path prefix by kind, as the hosted service spells them.
PATHS = {
    "image": "/v1/images/generations/async",
    "video": "/v1/video/generations",
    "3d": "/v1/3d/generations",
}
STATES = {"NOT_START": "waiting", "SUBMITTED": "waiting", "QUEUED": "waiting",
          "IN_PROGRESS": "running", "SUCCESS": "success", "FAILURE": "failure"}


class SirayEntry(RelayEntry):
    api_key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # required here
    upstream_model: str = Field(min_length=1)
    params: dict[str, Any] = {}  # fixed values sent with every task
    rename: dict[str, str] = {}  # genmill param name -> upstream name


def data_url(item: InputFile) -> str:
    kind = item.content_type or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(item.data).decode()}"


class SirayRelay(KeyedUpstream):
    can_cancel = True

    def __init__(self, entry: SirayEntry) -> None:
        super().__init__(entry.base_url, entry.api_key_env, entry.upstream)
        self.entry = entry
        self.path = PATHS[entry.mode.kind.value]
        self.poll_interval = entry.interval
        self.max_retries = entry.max_retries

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key()}"}

    def body(self, params: dict[str, Any], inputs: dict[str, list[InputFile]]) -> dict[str, Any]:
        body = {self.entry.rename.get(name, name): value for name, value in params.items()}
        if inputs.get("image"):
            body[self.entry.rename.get("image", "image")] = data_url(inputs["image"][0])
        if inputs.get("images"):
            body[self.entry.rename.get("images", "images")] = [
                data_url(item) for item in inputs["images"]]
        body.update(self.entry.params)
        body["model"] = self.entry.upstream_model
        return body

    async def submit(self, http: UpstreamHTTP, task_id: str, params: dict[str, Any],
                     inputs: dict[str, list[InputFile]]) -> str:
        # A retried submit of the same task carries the same key: an upstream that honours
        # Idempotency-Key (genmill does) answers the task it already made.
        headers = {**self.headers(), "Idempotency-Key": f"genmill-{task_id}"}
        document = await self.call(http, "POST", self.path, headers, self.body(params, inputs))
        data = document.get("data") if isinstance(document.get("data"), dict) else {}
        upstream_id = document.get("task_id") or data.get("task_id") or document.get("id")
        if not isinstance(upstream_id, str) or not upstream_id:
            raise UpstreamError("the submit answer has no task_id")
        return upstream_id

    async def poll(self, http: UpstreamHTTP, upstream_id: str) -> Poll:
        document = await self.call(http, "GET", f"{self.path}/{upstream_id}", self.headers())
        data = document.get("data")
        if not isinstance(data, dict) or data.get("status") not in STATES:
            raise UpstreamError("the status answer has no data.status")
        outputs = data.get("outputs") or []
        if not isinstance(outputs, list):
            raise UpstreamError("data.outputs is not a list")
        return Poll(state=STATES[data["status"]], progress=parse_percent(data.get("progress")),
                    outputs=[urljoin(self.base_url + "/", str(url)) for url in outputs],
                    fail_reason=self.redact(str(data.get("fail_reason") or "")))

    async def cancel(self, http: UpstreamHTTP, upstream_id: str) -> bool:
        response = await http.request("POST", self.url(f"/v1/tasks/{upstream_id}/cancel"),
                                      self.headers())
        return response.status < 300


class SirayKind:
    entry = SirayEntry

    def check_available(self) -> str | None:
        return None  # aiohttp only: every install has it

    def build(self, entry: EntryBase) -> ModelSpec:
        assert isinstance(entry, SirayEntry)
        return relay_spec(entry, relay_params(entry.id, entry.params), SirayRelay(entry),
                          f"{entry.upstream_model} relayed to {entry.upstream}")


KIND = SirayKind()
