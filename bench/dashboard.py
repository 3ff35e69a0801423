"""The dashboard's first load: bytes transferred, and time until the task list shows,
with 10 vs 10,000 tasks stored (the baseline is the 10-task run in the same process).

Opens `/` in Debian's Chromium (Playwright) on loopback, `genmill serve`, SQLite, no keys.
Bytes are what the browser's Resource Timing reports for the page and everything it loads
before the list shows (`transferSize`: on the wire, gzip where the server compressed;
`decodedBodySize`: uncompressed). Time is from navigation start to the
`genmill:tasks-listed` mark the page sets when its first task list is in the DOM, the
median of --loads fresh loads (cold browser cache each time).

    python bench/dashboard.py [--small 10] [--large 10000] [--loads 7]
Target: ratio large/small <= 1.5 (the page lists 20 tasks whatever is stored).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
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


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        small = loads(args.small, args.loads, browser)
        large = loads(args.large, args.loads, browser)
        browser.close()
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
