"""Screenshots of the dashboard for docs/ (desktop and phone width, light and dark).

Starts `genmill serve` (SQLite, built-in models, no keys) in a temporary directory, makes a
few real tasks through the API, and photographs the page in Debian's Chromium:

    python bench/dashboard_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import LiveServer  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--enable-unsafe-swiftshader"]


def _png_data_url(size=(640, 360)) -> str:
    image = Image.new("RGB", size)
    pixels = image.load()
    for x in range(size[0]):
        for y in range(size[1]):
            pixels[x, y] = (40 + x * 180 // size[0], 90 + y * 120 // size[1], 170)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def make_tasks(url: str) -> dict[str, str]:
    submits = {
        "video": ("/v1/video/generations", {"model": "genmill/kenburns-i2v", "duration": 2,
                                            "resolution": "480p", "image": _png_data_url()}),
        "3d": ("/v1/3d/generations", {"model": "genmill/text3d-text-to-3d",
                                      "prompt": "gold lettering saying \"genmill\""}),
        "card2": ("/v1/images/generations/async", {
            "model": "genmill/title-card-t2i", "prompt": "Quarterly review\nQ3 numbers",
            "aspect_ratio": "16:9"}),
        "image": ("/v1/images/generations/async", {
            "model": "genmill/title-card-t2i", "prompt": "A dark teal card that says "
            "\"Welcome back\"", "aspect_ratio": "16:9", "n": 2}),
    }
    ids = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, (path, body) in submits.items():
            reply = client.post(path, json=body)
            if reply.status_code != 200:
                sys.exit(f"{name}: {reply.status_code} {reply.text}")
            ids[name] = reply.json()["task_id"]
            kind_path = path
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                data = client.get(f"{kind_path}/{ids[name]}").json()["data"]
                if data["status"] in ("SUCCESS", "FAILURE"):
                    break
                time.sleep(0.2)
        # One waiting behind a long one, so the list shows progress and a queue.
        client.post("/v1/images/generations/async",
                    json={"model": "genmill/title-card-t2i", "prompt": "Still drawing",
                          "n": 4})
    return ids


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as play:
        server = LiveServer(Path(tmp) / "data", env={"GENMILL_PLUGINS": ""}, workers=1,
                            keys=None).start()
        try:
            ids = make_tasks(server.url)
            browser = play.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=CHROMIUM_ARGS)
            shots = [
                ("dashboard-desktop.png", {"width": 1400, "height": 900}, "light", "image"),
                ("dashboard-desktop-3d-dark.png", {"width": 1400, "height": 900}, "dark",
                 "3d"),
                ("dashboard-phone.png", {"width": 390, "height": 844}, "light", None),
                ("dashboard-phone-video.png", {"width": 390, "height": 844}, "dark", "video"),
            ]
            for name, viewport, scheme, task in shots:
                context = browser.new_context(viewport=viewport, color_scheme=scheme,
                                              device_scale_factor=1)
                page = context.new_page()
                page.goto(server.url + "/")
                page.wait_for_selector("#tasks li")
                if task:
                    page.click(f'#tasks li[data-task-id="{ids[task]}"] button')
                    if task == "3d":
                        page.wait_for_function("() => document.querySelector("
                                               "'#task-outputs model-viewer')?.loaded",
                                               timeout=180_000)
                    if task == "video":
                        page.wait_for_function("() => document.querySelector("
                                               "'#task-outputs video')?.readyState >= 2",
                                               timeout=180_000)
                page.wait_for_timeout(800)  # images decode, bars finish their transition
                page.screenshot(path=str(out / name), timeout=180_000)
                print("wrote", out / name)
                context.close()
            browser.close()
        except BaseException:
            print(server.log())
            raise
        finally:
            server.stop()


if __name__ == "__main__":
    main()
