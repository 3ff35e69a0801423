"""Two figures of the dashboard in Debian's Chromium (Playwright), on loopback.

**First load** (`--figure load`): bytes transferred, and time until the task list shows,
with 10 vs 10,000 tasks stored (the baseline is the 10-task run in the same process).

Opens `/` in Debian's Chromium (Playwright) on loopback, `genmill serve`, SQLite, no keys.
Bytes are what the browser's Resource Timing reports for the page and everything it loads
before the list shows (`transferSize`: on the wire, gzip where the server compressed;
`decodedBodySize`: uncompressed). Time is from navigation start to the
`genmill:tasks-listed` mark the page sets when its first task list is in the DOM, the
median of --loads fresh loads (cold browser cache each time).

Target: ratio large/small <= 1.5 (the page lists 20 tasks whatever is stored).

**Live list** (`--figure live`): --live-tasks running tasks (200) all change progress at
once, in rounds written straight into the database (one transaction per round, as workers
would), at rising rates; the page follows `GET /v1/events`. Frames are read from
Chromium's performance timeline: requestAnimationFrame timestamps (a frame is dropped
when an interval spans more than one 60 Hz vsync) and `longtask` entries (main-thread
work over 50 ms). Baseline (same run, same page): the same seconds with no events. The
figure is the highest rate of events per second at which the page drops no more frames
than the baseline plus 2 % of them and shows every row's last progress (it kept up).

    python bench/dashboard.py [--figure load|live|both] [--small 10] [--large 10000]
                              [--loads 7] [--live-tasks 200] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Server, seed_tasks  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

MEASURE = """() => {
  const mark = performance.getEntriesByName('genmill:tasks-listed')[0];
  const entries = [performance.getEntriesByType('navigation')[0],
                   ...performance.getEntriesByType('resource')]
    .filter(e => e.startTime <= mark.startTime);
  return {ms: mark.startTime, rows: document.querySelectorAll('#tasks li').length,
          wire: entries.reduce((s, e) => s + e.transferSize, 0),
          body: entries.reduce((s, e) => s + e.decodedBodySize, 0),
          files: entries.length};
}"""


def loads(count: int, times: int, browser) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        seed_tasks(f"sqlite:///{tmp}/genmill.db", count)
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0"}
        results = []
        with Server("genmill", env) as server:
            for _ in range(times + 1):  # the first load warms the server
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(server.url + "/")
                page.wait_for_function(
                    "() => performance.getEntriesByName('genmill:tasks-listed').length")
                results.append(page.evaluate(MEASURE))
                context.close()
        return results[1:]


FRAMES = """() => {
  window.__frames = [];
  window.__long = [];
  const tick = (t) => { window.__frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask" });
}"""

READ_FRAMES = """() => {
  const f = window.__frames, gaps = [];
  for (let i = 1; i < f.length; i++) gaps.push(f[i] - f[i - 1]);
  const long = window.__long;
  window.__frames = []; window.__long = [];
  return { gaps, long };
}"""

ROWS_AT = """(value) => [...document.querySelectorAll('#tasks li .bar-track')]
  .every((bar) => bar.getAttribute('aria-valuenow') === String(value))"""

VSYNC_MS = 1000 / 60


def frames_summary(sample: dict) -> dict:
    gaps = sample["gaps"]
    dropped = sum(max(0, round(gap / VSYNC_MS) - 1) for gap in gaps)
    shown = len(gaps)
    return {"frames": shown, "dropped": dropped,
            "dropped_pct": round(100 * dropped / max(1, shown + dropped), 1),
            "longtasks": len(sample["long"]),
            "longest_task_ms": round(max(sample["long"], default=0.0), 1)}


def live(browser, tasks: int, seconds: float, rates: list[float]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "genmill.db"
        ids = seed_tasks(f"sqlite:///{db_path}", tasks, kind="image", status="IN_PROGRESS")
        conn = sqlite3.connect(db_path, isolation_level=None)
        now = time.time()
        for i, task_id in enumerate(ids):  # distinct submit times, as real tasks have
            conn.execute("UPDATE tasks SET progress = 0, outputs = '[]', submit_time = ?, "
                         "finish_time = NULL WHERE id = ?", (now - 60 - i, task_id))
        env = {"GENMILL_DATA_DIR": tmp, "GENMILL_API_KEYS": "", "GENMILL_LOG_JSON": "0"}
        marks = ",".join("?" * len(ids))
        progress = 0
        with Server("genmill", env) as server:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(server.url + "/")
            page.wait_for_function("() => document.getElementById('live')"
                                   ".dataset.mode === 'events'")
            page.evaluate(FRAMES)
            page.wait_for_timeout(500)
            page.evaluate(READ_FRAMES)
            page.wait_for_timeout(seconds * 1000)
            baseline = frames_summary(page.evaluate(READ_FRAMES))
            levels = []
            for rate in rates:  # rounds per second; each round changes every task
                start = time.monotonic()
                rounds = 0
                while time.monotonic() - start < seconds:
                    progress = progress % 99 + 1
                    conn.execute(f"UPDATE tasks SET progress = ? WHERE id IN ({marks})",
                                 (progress, *ids))
                    rounds += 1
                    pause = start + rounds / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                elapsed = time.monotonic() - start
                try:
                    page.wait_for_function(ROWS_AT, arg=progress, timeout=10_000)
                    kept_up = True
                except Exception:  # noqa: BLE001 - a page that fell behind
                    kept_up = False
                level = frames_summary(page.evaluate(READ_FRAMES))
                level.update(events_per_s=round(rounds * tasks / elapsed), kept_up=kept_up)
                levels.append(level)
            context.close()
        conn.close()
    ok = [lv for lv in levels
          if lv["kept_up"] and lv["dropped_pct"] <= baseline["dropped_pct"] + 2]
    return {"tasks": tasks, "baseline_no_events": baseline, "levels": levels,
            "events_per_s_without_dropping_frames": max((lv["events_per_s"] for lv in ok),
                                                        default=0)}


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", choices=["load", "live", "both"], default="both")
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--live-tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rates", default="1,2,5,10,20",
                        help="rounds per second (each changes every task's progress)")
    args = parser.parse_args()
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        if args.figure in ("live", "both"):
            rates = [float(r) for r in args.rates.split(",")]
            result = live(browser, args.live_tasks, args.seconds, rates)
            load = Path("/proc/loadavg").read_text().split()[:3]
            print(json.dumps({"load_average": " ".join(load), **result}, indent=1))
        if args.figure in ("load", "both"):
            first_load(browser, args)
        browser.close()


def first_load(browser, args) -> None:
    small = loads(args.small, args.loads, browser)
    large = loads(args.large, args.loads, browser)
    for count, runs in ((args.small, small), (args.large, large)):
        first = runs[0]
        print(f"{count:>7,} tasks: list visible after median "
              f"{statistics.median(r['ms'] for r in runs):6.1f} ms ({first['rows']} rows); "
              f"{first['files']} files, {first['body']:,} bytes uncompressed, "
              f"{first['wire']:,} bytes on the wire")
    ratio = statistics.median(r["ms"] for r in large) / statistics.median(r["ms"] for r in small)
    print(f"ratio large/small: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
