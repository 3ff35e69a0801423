"""The web dashboard at `/`, driven in a real browser (Debian's Chromium via Playwright)
against a real `genmill serve` with keys.

Every flow fails on a console error, an uncaught page error, a failed request or an HTTP
error answer, except the ones a flow expects by name: the 404 of `GET /v1/events` on a
server without the push route (the page's signal to poll instead), and a wrong key's 401.
"""

from __future__ import annotations

import io
import json
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import KEYS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # WebGL on the CPU (SwiftShader) for the 3D viewer: there is no GPU here.
    "--enable-unsafe-swiftshader",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TASK_WAIT_MS = 240_000  # a real model's task, on a machine that may be busy with others
pytestmark = pytest.mark.timeout(600)


# --- the page and its files, over plain HTTP -------------------------------------------

class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_page_and_assets_are_public_offline_and_cached(server):
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        refs = _Refs()
        refs.feed(page.text)
        # Everything the page loads comes from this server's package.
        assert refs.refs and all(r.startswith(("/dashboard/", "#")) for r in refs.refs), refs
        for ref in refs.refs:
            if ref.startswith("/dashboard/"):
                assert anonymous.get(ref).status_code == 200, ref

        script = anonymous.get("/dashboard/app.js", headers={"Accept-Encoding": "gzip"})
        assert script.headers["content-encoding"] == "gzip"
        assert script.headers["content-type"].startswith("text/javascript")
        raw = httpx.get(server.url + "/dashboard/app.js",
                        headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        assert script.content == raw.content  # httpx decoded the gzip copy: the same file
        again = anonymous.get("/dashboard/app.js",
                              headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        licence = anonymous.get("/dashboard/vendor/model-viewer.LICENSE.txt")
        assert licence.status_code == 200 and "Apache License" in licence.text
        for bad in ("/dashboard/..%2Fgenmill.db", "/dashboard/%2e%2e/%2e%2e/genmill.db",
                    "/dashboard/index.html", "/dashboard/nothing.js", "/dashboard/vendor"):
            answer = anonymous.get(bad)
            assert answer.status_code == 404, bad
            assert answer.json()["error"]["code"] == "not_found"


def test_first_load_bytes(server):
    """What a browser fetches on first load of `/` (the 3D viewer comes later, on demand)."""
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        refs = _Refs()
        refs.feed(anonymous.get("/").text)
        modules = {"/dashboard/app.js"}
        for name in ("api", "detail", "form", "live", "outputs", "tasks", "util"):
            modules.add(f"/dashboard/{name}.js")
        paths = ["/", *refs.refs, *sorted(modules)]
        plain = gzipped = 0
        for path in dict.fromkeys(p for p in paths if not p.startswith("#")):
            raw = anonymous.get(path, headers={"Accept-Encoding": "identity"}).content
            plain += len(raw)
            packed = anonymous.get(path, headers={"Accept-Encoding": "gzip"})
            gzipped += int(packed.headers.get("content-length", len(packed.content)))
        print(f"first load of /: {plain} bytes, {gzipped} bytes gzipped")
        assert gzipped < plain < 200_000  # model-viewer (1 MB) is not part of it


# --- in the browser ----------------------------------------------------------------------

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="no /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    with playwright_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose problems are recorded: console errors, page errors, failed requests,
    HTTP errors. `allow(status, path)` expects one kind of error answer."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base
        self.problems: list[str] = []
        self.allowed: set[tuple[int, str]] = set()
        self.api_headers: list[tuple[str, str]] = []  # (path, authorization) of API calls
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", self._request)

    def allow(self, status: int, path: str) -> None:
        self.allowed.add((status, path))

    def _path(self, url: str) -> str:
        return url[len(self.base):].split("?")[0] if url.startswith(self.base) else url

    def _expected(self, status: int, url: str) -> bool:
        return (status, self._path(url)) in self.allowed

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        text = message.text
        for status, path in self.allowed:
            if f"status of {status}" in text and self._path(url) == path:
                return
        self.problems.append(f"console error: {text} at {url}")

    def _failed(self, request) -> None:
        failure = request.failure or ""
        # Not faults: a media element cancels its own range request when it seeks or has
        # buffered enough, and the page closes its event stream on a key change.
        if "ERR_ABORTED" in failure and (request.resource_type == "media"
                                         or self._path(request.url) == "/v1/events"):
            return
        self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.problems.append(f"HTTP {response.status}: {response.request.method} "
                                 f"{response.url}")

    def _request(self, request) -> None:
        path = self._path(request.url)
        if path.startswith(("/v1/", "/api/")):
            self.api_headers.append((path, request.headers.get("authorization", "")))

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def open_dashboard(browser, server):
    """open_dashboard(key=..., viewport=...) -> Watched, on `/` with the key stored."""
    contexts = []
    watched_pages: list[Watched] = []

    def open_(key: str | None = KEYS["alice"], viewport=DESKTOP, events_404=True,
              goto=True) -> Watched:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        if key is not None:
            context.add_init_script(f"localStorage.setItem('genmill.apiKey', {json.dumps(key)})")
        watched = Watched(context.new_page(), server.url)
        if events_404:
            watched.allow(404, "/v1/events")  # no push route on this server: poll
        watched_pages.append(watched)
        if goto:
            watched.page.goto(server.url + "/")
        return watched

    yield open_
    try:
        for watched in watched_pages:
            watched.check()
    finally:
        for context in contexts:
            context.close()


def _row(page, task_id: str):
    return page.locator(f'#tasks li[data-task-id="{task_id}"]')


def _task_ids(page) -> list[str]:
    return page.eval_on_selector_all("#tasks li", "rows => rows.map(r => r.dataset.taskId)")


# Records every progress value the open task's bar shows, to see it move.
WATCH_PROGRESS = """() => {
  window.__progress = [];
  const bar = document.getElementById('task-progress');
  new MutationObserver(() => window.__progress.push(Number(bar.getAttribute('aria-valuenow'))))
    .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
}"""


@needs_chromium
def test_models_listed_with_forms_from_their_schemas(open_dashboard, server):
    watched = open_dashboard()
    page = watched.page
    with server.client() as api:
        models = api.get("/v1/models").json()["data"]
    page.wait_for_selector(".model")
    shown = page.eval_on_selector_all(".model", "m => m.map(b => b.dataset.model)")
    assert shown == [m["id"] for m in models]
    for model in models:
        button = page.locator(f'.model[data-model="{model["id"]}"]')
        assert model["tag"] in button.inner_text()
    page.click('.model[data-model="genmill/title-card-t2i"]')
    form = "#param-genmill-title-card-t2i-"
    params = next(m for m in models if m["id"] == "genmill/title-card-t2i")["params"]
    # One field per param: types, ranges, enums, defaults and help text from the schema.
    fields = page.eval_on_selector_all("#fields [name]", "f => f.map(x => x.name)")
    assert fields == list(params["properties"])
    assert page.get_attribute(form + "prompt", "required") is not None
    assert page.eval_on_selector(form + "prompt", "e => e.tagName") == "TEXTAREA"
    n = params["properties"]["n"]
    assert page.get_attribute(form + "n", "type") == "number"
    assert page.get_attribute(form + "n", "min") == str(n["minimum"])
    assert page.get_attribute(form + "n", "max") == str(n["maximum"])
    assert page.input_value(form + "n") == str(n["default"])
    formats = page.eval_on_selector_all(form + "output_format option", "o => o.map(x => x.text)")
    assert formats == params["properties"]["output_format"]["enum"]
    assert n["description"] in page.inner_text("#fields")
    # Out of range: a clear message naming the field, nothing submitted.
    page.fill(form + "prompt", "x")
    page.fill(form + "n", "9")
    page.click("#submit")
    assert page.inner_text("#form-error").startswith("N:")
    assert page.locator("#image-input").is_hidden()
    page.click('.model[data-model="genmill/kenburns-i2v"]')
    assert page.locator("#image-input").is_visible()
    assert page.get_attribute("#param-genmill-kenburns-i2v-audio_enable", "type") == "checkbox"
    watched.check()


@needs_chromium
def test_title_card_from_its_form_progress_and_image_without_reload(open_dashboard, server):
    watched = open_dashboard()
    page = watched.page
    page.wait_for_selector('.model[data-model="genmill/title-card-t2i"]')
    page.evaluate("window.__sameDocument = true")
    page.fill("#param-genmill-title-card-t2i-prompt", "Hello from the dashboard")
    page.fill("#param-genmill-title-card-t2i-n", "3")
    page.select_option("#param-genmill-title-card-t2i-aspect_ratio", label="16:9")
    page.click("#submit")
    page.wait_for_selector("#task:not([hidden])")
    page.evaluate(WATCH_PROGRESS)
    task_id = page.inner_text("#task-id")
    images = page.locator("#task-outputs .thumb img")
    images.first.wait_for(timeout=TASK_WAIT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('#task-outputs .thumb img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert images.count() == 3
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    seen = page.evaluate("window.__progress")
    assert seen and seen[-1] == 100 and seen == sorted(seen), seen
    assert page.text_content("#task-badge").lower() == "done"
    width, height = page.evaluate("""() => { const i = document.querySelector(
        '#task-outputs .thumb img'); return [i.naturalWidth, i.naturalHeight]; }""")
    assert abs(width / height - 16 / 9) < 0.01
    row = _row(page, task_id)
    row.locator(".row-thumb img").wait_for()
    assert row.locator(".badge").inner_text().lower() == "done"
    # The lightbox: arrow keys move between the three images, Escape closes it.
    images.nth(0).click()
    assert page.locator("#lightbox").is_visible()
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#lightbox-caption") == "image-2.png (2 of 3)"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#lightbox-caption") == "image-3.png (3 of 3)"
    page.keyboard.press("Escape")
    assert page.locator("#lightbox").is_hidden() and page.locator("#task").is_visible()
    # "Use these params again" fills the form with what was sent.
    page.fill("#param-genmill-title-card-t2i-prompt", "")
    page.click("#task-again")
    assert page.input_value("#param-genmill-title-card-t2i-prompt") == \
        "Hello from the dashboard"
    assert page.input_value("#param-genmill-title-card-t2i-n") == "3"
    watched.check()


@needs_chromium
def test_progress_moves_while_a_task_runs(open_dashboard, server):
    watched = open_dashboard()
    page = watched.page
    page.click('.model[data-model="test/steps-t2i"]')
    page.fill("#param-test-steps-t2i-prompt", "steps")
    page.fill("#param-test-steps-t2i-steps", "4")
    page.fill("#param-test-steps-t2i-step_ms", "1200")  # ≥ 4.8 s: several 1.5 s polls
    page.click("#submit")
    page.wait_for_selector("#task:not([hidden])")
    page.evaluate(WATCH_PROGRESS)
    page.wait_for_function("() => document.getElementById('task-badge').textContent "
                           "=== 'done'", timeout=TASK_WAIT_MS)
    seen = page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen
    assert seen[-1] == 100 and seen == sorted(seen), seen
    watched.check()


def _png(path: Path, size=(320, 180)) -> Path:
    image = Image.new("RGB", size)
    for x in range(size[0]):
        for y in range(0, size[1], 4):
            image.putpixel((x, y), (x % 256, (y * 3) % 256, 180))
    image.save(path)
    return path


@needs_chromium
def test_ken_burns_video_from_an_uploaded_image_plays_and_seeks(open_dashboard, server,
                                                               tmp_path):
    watched = open_dashboard()
    page = watched.page
    page.click('.model[data-model="genmill/kenburns-i2v"]')
    page.set_input_files("#image-file", str(_png(tmp_path / "input.png")))
    page.wait_for_selector("#image-preview:not([hidden])")
    assert page.get_attribute("#image-preview", "src").startswith("data:image/png;base64,")
    page.fill("#param-genmill-kenburns-i2v-duration", "2")
    page.select_option("#param-genmill-kenburns-i2v-resolution", "\"480p\"")
    page.click("#submit")
    video = page.locator("#task-outputs video")
    video.wait_for(timeout=TASK_WAIT_MS)
    assert page.get_attribute("#task-outputs video", "poster").endswith("/poster.jpg")
    page.wait_for_function("() => document.querySelector('#task-outputs video')"
                           ".readyState >= 1", timeout=30_000)
    duration = page.evaluate("document.querySelector('#task-outputs video').duration")
    assert 1.9 < duration < 2.2, duration
    page.evaluate("""async () => { const v = document.querySelector('#task-outputs video');
        v.muted = true; await v.play(); }""")
    page.wait_for_function("() => document.querySelector('#task-outputs video')"
                           ".currentTime > 0.1", timeout=30_000)
    at = page.evaluate("""() => new Promise(resolve => {
        const v = document.querySelector('#task-outputs video');
        v.pause();
        v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
        v.currentTime = 1.5; })""")
    assert abs(at - 1.5) < 0.05, at
    page.wait_for_function("() => document.querySelector('#task-outputs video')"
                           ".readyState >= 2")
    # The decoded frame at 1.5 s: the browser drew a picture, not an empty box.
    frame = page.evaluate("""() => { const v = document.querySelector('#task-outputs video');
        const c = document.createElement('canvas'); c.width = 64; c.height = 36;
        c.getContext('2d').drawImage(v, 0, 0, 64, 36); return c.toDataURL('image/png'); }""")
    pixels = Image.open(io.BytesIO(_data_url_bytes(frame))).convert("L")
    assert pixels.getextrema()[1] - pixels.getextrema()[0] > 40
    watched.check()


def _data_url_bytes(url: str) -> bytes:
    import base64

    return base64.b64decode(url.split(",", 1)[1])


@needs_chromium
def test_3d_result_renders_in_an_orbitable_viewer(open_dashboard, server):
    watched = open_dashboard()
    page = watched.page
    page.click('.model[data-model="genmill/text3d-text-to-3d"]')
    page.fill("#param-genmill-text3d-text-to-3d-prompt", "GM gold")
    page.click("#submit")
    viewer = page.locator("#task-outputs model-viewer")
    viewer.wait_for(timeout=TASK_WAIT_MS)
    assert viewer.get_attribute("camera-controls") is not None
    page.wait_for_function("() => document.querySelector('#task-outputs model-viewer')"
                           ".loaded === true", timeout=TASK_WAIT_MS)
    shot = page.evaluate("""async () => { const v = document.querySelector(
        '#task-outputs model-viewer'); await new Promise(r => requestAnimationFrame(
        () => requestAnimationFrame(r))); return v.toDataURL('image/png'); }""")
    image = Image.open(io.BytesIO(_data_url_bytes(shot))).convert("RGB")
    background = image.getpixel((0, 0))
    differing = sum(1 for pixel in image.get_flattened_data()
                    if sum(abs(a - b) for a, b in zip(pixel, background, strict=True)) > 60)
    assert differing > 0.02 * image.width * image.height, (differing, image.size)
    watched.check()


def _submit_steps(api: httpx.Client, **params) -> str:
    body = {"model": "test/steps-t2i", "prompt": "x", **params}
    reply = api.post("/v1/images/generations/async", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["task_id"]


def _status(api: httpx.Client, task_id: str) -> dict:
    return api.get(f"/v1/images/generations/async/{task_id}").json()["data"]


def _wait_status(api, task_id: str, wanted: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _status(api, task_id)
        if data["status"] in wanted:
            return data
        time.sleep(0.05)
    raise AssertionError(f"{task_id} never reached {wanted}: {data}")


@needs_chromium
def test_cancel_a_queued_task(open_dashboard, server):
    with server.client() as api:
        # Both workers busy: the third task waits in the queue.
        blockers = [_submit_steps(api, steps=1000, step_ms=20) for _ in range(2)]
        for blocker in blockers:
            _wait_status(api, blocker, {"IN_PROGRESS"})
        queued = _submit_steps(api, steps=1)
        try:
            assert _status(api, queued)["status"] == "QUEUED"
            watched = open_dashboard()
            page = watched.page
            row = _row(page, queued)
            row.wait_for()
            assert row.locator(".badge").inner_text().lower() == "queued"
            row.locator("button").click()
            page.click("#task-cancel")
            page.wait_for_function("() => document.getElementById('task-badge').textContent"
                                   " === 'canceled'")
            assert page.locator("#task-cancel").is_hidden()
            data = _status(api, queued)
            assert (data["status"], data["fail_reason"]) == ("FAILURE", "canceled")
            row.locator(".badge", has_text="canceled").wait_for()
        finally:
            for blocker in blockers:
                api.post(f"/v1/tasks/{blocker}/cancel")
            for blocker in blockers:
                _wait_status(api, blocker, {"FAILURE", "SUCCESS"})
    watched.check()


@needs_chromium
def test_delete_a_task(open_dashboard, server):
    with server.client() as api:
        doomed = _submit_steps(api, steps=1)
        kept = _submit_steps(api, steps=1)
        for task_id in (doomed, kept):
            _wait_status(api, task_id, {"SUCCESS"})
        watched = open_dashboard()
        page = watched.page
        _row(page, doomed).locator("button").click()
        page.click("#task-delete")
        assert page.inner_text("#task-delete") == "Delete for good?"
        page.click("#task-delete")
        _row(page, doomed).wait_for(state="detached")
        assert page.locator("#task").is_hidden()
        assert api.get(f"/api/v1/tasks/{doomed}").status_code == 404
        assert api.get(f"/api/v1/tasks/{kept}").status_code == 200
        assert kept in _task_ids(page)
    watched.check()


@needs_chromium
def test_a_second_key_sees_none_of_the_first_keys_tasks(open_dashboard, server):
    with server.client() as alice:
        mine = _submit_steps(alice, steps=1)
        _wait_status(alice, mine, {"SUCCESS"})
    first = open_dashboard(key=KEYS["alice"])
    _row(first.page, mine).wait_for()
    watched = open_dashboard(key=KEYS["bob"])
    page = watched.page
    page.wait_for_selector('#page-info:has-text("task")')
    assert mine not in _task_ids(page)
    with server.client(KEYS["bob"]) as bob:
        total = bob.get("/api/v1/tasks").json()["data"]["total"]
        bobs = _submit_steps(bob, steps=1)
        _wait_status(bob, bobs, {"SUCCESS"})
    _row(page, bobs).wait_for()  # appears without reload
    ids = _task_ids(page)
    assert mine not in ids and len(ids) == min(total + 1, 20)
    # Opening alice's task by id from bob's page: the API says no such task.
    watched.allow(404, f"/api/v1/tasks/{mine}")
    answer = page.evaluate("""async id => (await fetch('/api/v1/tasks/' + id, {headers:
        {Authorization: 'Bearer ' + localStorage.getItem('genmill.apiKey')}})).status""", mine)
    assert answer == 404
    # Every API call the page made carried bob's key.
    assert watched.api_headers
    assert {auth for _, auth in watched.api_headers} == {f"Bearer {KEYS['bob']}"}
    watched.check()


@needs_chromium
def test_a_wrong_key_shows_a_clear_message_then_a_right_one_works(open_dashboard, server):
    watched = open_dashboard(key="not-a-key", goto=False)
    watched.allow(401, "/v1/models")
    page = watched.page
    page.goto(server.url + "/")
    dialog = page.locator("#key-dialog")
    dialog.wait_for()
    assert "This key was refused (invalid API key)" in page.inner_text("#key-message")
    assert page.inner_text("#tasks-empty") == "Enter a valid API key to see tasks."
    page.fill("#key-input", KEYS["alice"])
    page.click("#key-save")
    page.wait_for_selector(".model")
    assert dialog.is_hidden()
    assert page.evaluate("localStorage.getItem('genmill.apiKey')") == KEYS["alice"]
    watched.check()


@needs_chromium
def test_no_key_on_a_server_that_needs_one_asks_for_it(open_dashboard, server):
    watched = open_dashboard(key=None, goto=False)
    watched.allow(401, "/v1/models")
    watched.page.goto(server.url + "/")
    watched.page.locator("#key-dialog").wait_for()
    assert "This server needs an API key" in watched.page.inner_text("#key-message")
    watched.check()


@needs_chromium
def test_events_stream_updates_the_list_and_replays_after_a_reconnect(open_dashboard, server):
    """The page's SSE client, fed the events `GET /v1/events` sends (the push issue's
    format: `id:`, `event: status`, `data:` the Siray status data plus task_id and
    queue_position), answered here so that the test decides when a stream ends and what
    the reconnect gets; the task itself is real. The real stream: the test above."""
    with server.client() as api:
        task_id = _submit_steps(api, steps=1)
        real = _wait_status(api, task_id, {"SUCCESS"})
    watched = open_dashboard(events_404=False, goto=False)
    page = watched.page
    calls: list[dict] = []

    def event(seq: int, **changes) -> str:
        data = {**real, "status": "IN_PROGRESS", "progress": "42%", "outputs": [],
                "queue_position": None, **changes}
        # Split across lines to exercise multi-line data and a comment (a keep-alive).
        text = json.dumps(data, indent=1).replace("\n", "\ndata: ")
        return f": keep-alive\nid: {seq}\nevent: status\ndata: {text}\n\n"

    held = []

    def answer(route):
        calls.append(dict(route.request.headers))
        if len(calls) <= 2:
            held.append(route)  # answered below, when the test is ready for it
        else:
            route.fulfill(status=404, json={"code": "not_found", "message": "",
                                            "data": None})

    def send(route, body: str) -> None:
        route.fulfill(status=200, body=body, headers={"Content-Type": "text/event-stream",
                                                      "Cache-Control": "no-cache"})

    page.route("**/v1/events", answer)
    watched.allow(404, "/v1/events")  # the third connection: the page goes to polling
    page.goto(server.url + "/")
    row = _row(page, task_id)
    row.wait_for()
    row.locator("button").click()
    assert page.inner_text("#task-percent") == "100%"
    page.wait_for_function("() => document.getElementById('live').textContent"
                           " === 'connecting…'")
    assert len(held) == 1
    assert calls[0]["authorization"] == f"Bearer {KEYS['alice']}"
    assert calls[0]["accept"] == "text/event-stream"
    assert "last-event-id" not in calls[0]
    # Two events, then the stream ends (the server went away): the page shows them.
    send(held[0], "retry: 100\n\n" + event(1, progress="10%") + event(2))
    page.wait_for_function("() => document.getElementById('task-percent').textContent"
                           " === '42%'")
    assert page.text_content("#task-badge") == "running"
    # It reconnects asking for what came after the last event it saw.
    page.wait_for_function("() => document.getElementById('live').textContent"
                           " === 'reconnecting…'")
    deadline = time.monotonic() + 30
    while len(held) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert calls[1]["last-event-id"] == "2"
    send(held[1], event(3, status="QUEUED", progress="0%", queue_position=2))
    page.wait_for_function("() => document.getElementById('task-queue').textContent"
                           " === '2 task(s) ahead in the queue.'")
    assert page.text_content("#task-badge") == "queued"
    # The third connection is a 404 (a server without the route): polling takes over and
    # shows the real state again.
    page.wait_for_function("() => document.getElementById('live').textContent"
                           ".startsWith('updates every')")
    page.wait_for_function("() => document.getElementById('task-badge').textContent"
                           " === 'done'")
    assert page.locator("#task-queue").is_hidden()
    row.locator(".badge", has_text="done").wait_for()
    watched.check()


# Records every progress value one row's bar shows.
WATCH_ROW_PROGRESS = """(id) => {
  window.__rowProgress = [];
  const bar = document.querySelector(`#tasks li[data-task-id="${id}"] .bar-track`);
  new MutationObserver(() => window.__rowProgress.push(
      Number(bar.getAttribute('aria-valuenow'))))
    .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
}"""


@needs_chromium
def test_live_list_follows_the_servers_own_event_stream(open_dashboard, server):
    """No routed fake: the page reads this server's `GET /v1/events`. A task submitted
    elsewhere (a client, not the page) appears, its bar moves and it ends, with no poll."""
    watched = open_dashboard(events_404=False)
    page = watched.page
    page.wait_for_function("() => document.getElementById('live').dataset.mode === 'events'")
    with server.client() as api:
        task_id = _submit_steps(api, steps=8, step_ms=500)
    row = _row(page, task_id)
    row.wait_for(timeout=TASK_WAIT_MS)  # a new task: the event made the page list it
    page.evaluate(WATCH_ROW_PROGRESS, task_id)
    row.locator(".badge", has_text="done").wait_for(timeout=TASK_WAIT_MS)
    seen = page.evaluate("window.__rowProgress")
    assert any(0 < value < 100 for value in seen), seen
    assert seen[-1] == 100 and seen == sorted(seen), seen
    # Through the stream alone: the page never polled a status route, and it stayed live.
    assert not [path for path, _ in watched.api_headers if path.startswith("/v1/images/")]
    assert page.evaluate("document.getElementById('live').dataset.mode") == "events"
    assert [auth for path, auth in watched.api_headers if path == "/v1/events"] == \
        [f"Bearer {KEYS['alice']}"]
    watched.check()


@needs_chromium
def test_phone_width_has_no_sideways_scroll_and_a_full_width_task_panel(open_dashboard,
                                                                        server):
    with server.client() as api:
        task_id = _submit_steps(api, steps=1)
        _wait_status(api, task_id, {"SUCCESS"})
    watched = open_dashboard(viewport=PHONE)
    page = watched.page
    _row(page, task_id).wait_for()
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    _row(page, task_id).locator("button").click()
    box = page.locator("#task").bounding_box()
    assert box["x"] == 0 and box["width"] == PHONE["width"]
    assert page.evaluate(fits)
    page.keyboard.press("Escape")
    assert page.locator("#task").is_hidden()
    watched.check()
