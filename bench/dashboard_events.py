"""The dashboard under a stream of progress events: 200 running tasks changing at once.

The server is genmill's app (SQLite, 200 IN_PROGRESS tasks seeded, no keys) with
`GET /v1/events` answered by this script's generator (the push route is not in genmill
yet): `event: status` records in the push issue's format, round-robin over the 200 tasks,
progress rising, at a set rate. The page (Debian's Chromium, 1280x900) follows them; for
each rate this prints the events the page took per second (the generator blocks when the
page stops reading) and the frames Chromium drew in 5 s, with how many took longer than
1.5 frame times (dropped), against a baseline of the same page with no events.

    python bench/dashboard_events.py [--rates 200,1000,5000,20000]
Target: no more dropped frames than the baseline + 2 at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, seed_tasks  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECONDS = 5


def app_factory():
    """genmill's app, with /v1/events from a generator (GENMILL_BENCH_RATE events/s)."""
    from starlette.responses import StreamingResponse

    from genmill.api.app import app_from_env

    app = app_from_env()
    ids = json.loads(Path(os.environ["GENMILL_BENCH_IDS"]).read_text())
    rate = float(os.environ["GENMILL_BENCH_RATE"])
    counter = Path(os.environ["GENMILL_BENCH_COUNT"])

    async def events():
        sent, started, batch = 0, time.monotonic(), max(1, int(rate / 100))
        while True:
            chunk = []
            for _ in range(batch):
                task_id = ids[sent % len(ids)]
                data = {"task_id": task_id, "action": "imageGenerate",
                        "status": "IN_PROGRESS", "progress": f"{(sent // len(ids)) % 100}%",
                        "outputs": [], "start_time": 1, "finish_time": 0, "submit_time": 1,
                        "fail_reason": "", "queue_position": None}
                sent += 1
                chunk.append(f"id: {sent}\nevent: status\ndata: {json.dumps(data)}\n\n")
            yield "".join(chunk).encode()
            counter.write_text(str(sent))
            ahead = started + sent / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def with_events(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/v1/events":
            response = StreamingResponse(events(), media_type="text/event-stream")
            return await response(scope, receive, send)
        await app(scope, receive, send)

    return with_events


FRAMES = """seconds => new Promise(resolve => {
  const times = [];
  const start = performance.now();
  function frame(now) {
    times.push(now);
    if (now - start < seconds * 1000) requestAnimationFrame(frame);
    else {
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      const typical = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
      resolve({frames: times.length, dropped: gaps.filter(g => g > 1.5 * typical).length,
               typical});
    }
  }
  requestAnimationFrame(frame);
})"""


def run(rate: float, ids_file: Path, data_dir: str, browser) -> dict:
    count_file = Path(data_dir) / "sent.txt"
    count_file.write_text("0")
    env = {"GENMILL_DATA_DIR": data_dir, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0",
           "GENMILL_BENCH_IDS": str(ids_file),
           "GENMILL_BENCH_RATE": str(rate or 1e-9), "GENMILL_BENCH_COUNT": str(count_file)}
    with Server("bench.dashboard_events:app_factory", env) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector("#tasks li")
        page.wait_for_timeout(1000)
        before = int(count_file.read_text() or 0)
        frames = page.evaluate(FRAMES, SECONDS)
        after = int(count_file.read_text() or 0)
        context.close()
    return {**frames, "events_per_s": (after - before) / SECONDS}


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,1000,5000,20000")
    args = parser.parse_args()
    rates = [0.0] + [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as play:
        ids = seed_tasks(f"sqlite:///{tmp}/genmill.db", 200, kind="image",
                         status="IN_PROGRESS")
        ids_file = Path(tmp) / "ids.json"
        ids_file.write_text(json.dumps(ids))
        browser = play.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        baseline = None
        for rate in rates:
            result = run(rate, ids_file, tmp, browser)
            baseline = baseline or result
            label = "no events (baseline)" if rate == 0 else f"{rate:>8,.0f} events/s asked"
            print(f"{label}: page took {result['events_per_s']:8,.0f} events/s; "
                  f"{result['frames']} frames in {SECONDS} s, {result['dropped']} dropped "
                  f"(baseline {baseline['dropped']}), frame time {result['typical']:.1f} ms")
        browser.close()


if __name__ == "__main__":
    main()
