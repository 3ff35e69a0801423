"""`engine = "moneyprinter"`: a MoneyPrinterTurbo server (or genmill's own local API).

The entry's model takes genmill's narrated text-to-video params; they go upstream as
`POST /api/v1/videos` fields, and `GET /api/v1/tasks/{id}` is polled
(shared/reference/local-task-api.txt: state 4 processing, 1 success, -1 failed). The
outputs are the final and the combined videos. The API has no cancel: genmill stops
polling.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from pydantic import field_validator

from genmill.domain import Mode
from genmill.engines.base import InputFile, ModelSpec
from genmill.engines.models_file.entry import EntryBase
from genmill.engines.relays.entry import RelayEntry, relay_spec
from genmill.engines.relays.errors import UpstreamError
from genmill.engines.relays.http import UpstreamHTTP
from genmill.engines.relays.siray import data_url
from genmill.engines.relays.upstream import KeyedUpstream, Poll, parse_percent
from genmill.engines.video.params import NarratedParams

# narrated-t2v param -> request field, where the meaning is the same.
FIELDS = {
    "script": "video_script", "title": "video_subject", "aspect_ratio": "video_aspect",
    "clip_duration": "video_clip_duration", "video_count": "video_count",
    "voice_name": "voice_name", "voice_rate": "voice_rate", "voice_volume": "voice_volume",
    "subtitle_enabled": "subtitle_enabled", "subtitle_position": "subtitle_position",
    "font_size": "font_size", "text_fore_color": "text_fore_color",
    "stroke_color": "stroke_color", "stroke_width": "stroke_width",
    "bgm_volume": "bgm_volume", "seed": "seed",
}
STATES = {4: "running", 1: "success", -1: "failure"}


class MoneyPrinterEntry(RelayEntry):
    @field_validator("mode")
    @classmethod
    def _text_to_video(cls, value: Mode) -> Mode:
        if value != Mode.TEXT_TO_VIDEO:
            raise ValueError("a moneyprinter entry makes text-to-video")
        return value


class MoneyPrinterRelay(KeyedUpstream):
    can_cancel = False

    def __init__(self, entry: MoneyPrinterEntry) -> None:
        super().__init__(entry.base_url, entry.api_key_env, entry.upstream)
        self.poll_interval = entry.interval
        self.max_retries = entry.max_retries

    def headers(self) -> dict[str, str]:
        key = self.key()
        return {"x-api-key": key} if key else {}

    @staticmethod
    def body(params: dict[str, Any], inputs: dict[str, list[InputFile]]) -> dict[str, Any]:
        body = {field: params[name] for name, field in FIELDS.items()
                if params.get(name) is not None}
        images = [*inputs.get("image", []), *inputs.get("images", [])]
        if images:
            body["video_materials"] = [{"provider": "url", "url": data_url(item)}
                                       for item in images]
        return body

    async def submit(self, http: UpstreamHTTP, task_id: str, params: dict[str, Any],
                     inputs: dict[str, list[InputFile]]) -> str:
        headers = {**self.headers(), "Idempotency-Key": f"genmill-{task_id}"}
        document = await self.call(http, "POST", "/api/v1/videos", headers,
                                   self.body(params, inputs))
        data = document.get("data")
        upstream_id = data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(upstream_id, str) or not upstream_id:
            raise UpstreamError("the submit answer has no data.task_id")
        return upstream_id

    async def poll(self, http: UpstreamHTTP, upstream_id: str) -> Poll:
        document = await self.call(http, "GET", f"/api/v1/tasks/{upstream_id}",
                                   self.headers())
        data = document.get("data")
        if not isinstance(data, dict) or data.get("state") not in STATES:
            raise UpstreamError("the task answer has no data.state")
        urls = [*(data.get("videos") or []), *(data.get("combined_videos") or [])]
        return Poll(state=STATES[data["state"]], progress=parse_percent(data.get("progress")),
                    outputs=[urljoin(self.base_url + "/", str(url)) for url in urls],
                    fail_reason=self.redact(str(data.get("fail_reason") or "")))

    async def cancel(self, http: UpstreamHTTP, upstream_id: str) -> bool:
        return False


class MoneyPrinterKind:
    entry = MoneyPrinterEntry

    def check_available(self) -> str | None:
        return None

    def build(self, entry: EntryBase) -> ModelSpec:
        assert isinstance(entry, MoneyPrinterEntry)
        return relay_spec(entry, NarratedParams, MoneyPrinterRelay(entry),
                          f"narrated videos relayed to the MoneyPrinterTurbo API at "
                          f"{entry.upstream}")


KIND = MoneyPrinterKind()
