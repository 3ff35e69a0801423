"""genmill around a diffusion pipeline: overhead, load once, no head-of-line blocking.

Tiny random-weight pipelines (tests/tiny_pipelines.py) through a real `genmill serve`
with a models file, offline. Baselines, measured in the same run:

- overhead: each task's end-to-end time (submit to SUCCESS seen by a client polling
  every 5 ms) minus the pipeline's own call time, which the engine logs for that task
  ("pipeline call N s"). Target: median <= 30 ms.
- load once: the second task of a model, end to end, over its own pipeline call time
  (no reload: the ratio is the overhead alone; a reload takes seconds). Target: <= 1.1.
  This task runs 30 steps (a few hundred ms on a CPU, as a real model's call is long
  beside genmill's overhead); the difference is printed too.
- head of line: a built-in title card submitted behind five long diffusion tasks, one
  diffusion worker (the GPU pool; on the CPU where there is no GPU) and one CPU worker:
  time to its SUCCESS. Target: <= 2 s.

    python bench/models.py [--tasks 20] [--device cpu|cuda] [--dtype float32|float16]
                           [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import tiny_pipelines  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402

IMAGES = "/v1/images/generations/async"
CALL = re.compile(r"task (\S+): pipeline call ([0-9.]+) s")


def models_toml(folder: Path, device: str, dtype: str, long_device: str | None = None) -> str:
    def entry(model_id: str, on: str, steps: int) -> str:
        return (f'[[models]]\nid = "{model_id}"\nengine = "diffusers"\n'
                f'mode = "text-to-image"\nsource = "{folder}"\ndevice = "{on}"\n'
                f'dtype = "{dtype}"\n[models.defaults]\nnum_inference_steps = {steps}\n'
                "width = 64\nheight = 64\n")

    return entry("bench/sd", device, 4) + entry("bench/sd-long", long_device or device, 60)


def run(client: httpx.Client, model: str, **body) -> tuple[str, float]:
    started = time.perf_counter()
    task_id = client.post(IMAGES, json={"model": model, "prompt": "a bench", **body}).json()[
        "task_id"]
    while True:
        data = client.get(f"{IMAGES}/{task_id}").json()["data"]
        if data["status"] in ("SUCCESS", "FAILURE"):
            break
        time.sleep(0.005)
    assert data["status"] == "SUCCESS", data
    return task_id, time.perf_counter() - started


def call_times(server: LiveServer) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in CALL.finditer(server.log_path.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--gpus", default="none", help="GENMILL_GPUS for the server")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="genmill-bench-models-"))
    folder = tiny_pipelines.save(tiny_pipelines.stable_diffusion(), root / "tiny-sd")
    (root / "models.toml").write_text(models_toml(folder, args.device, args.dtype))
    # The long model is a "GPU" model (device auto) when --gpus names GPUs; on a CPU-only
    # machine, --gpus 0 still gives it a worker of its own, running on the CPU.
    env = {"GENMILL_MODELS_FILE": str(root / "models.toml"), "HF_HUB_OFFLINE": "1",
           "GENMILL_GPUS": args.gpus, "GENMILL_API_KEYS": "", "GENMILL_PLUGINS": "",
           "GENMILL_DATABASE_URL": args.database_url}
    with_workers = 1
    server = LiveServer(root / "data", env=env, workers=with_workers, keys=None)
    server.start(timeout=300)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            first_id, first = run(client, "bench/sd", seed=0)  # import torch, load
            url = client.get(f"{IMAGES}/{first_id}").json()["data"]["outputs"][0]
            png = Image.open(io.BytesIO(client.get(url).content))
            assert png.size == (64, 64), png.size
            print(f"text-to-image on {args.device}/{args.dtype}: a {png.size} PNG")
            second_id, second = run(client, "bench/sd", seed=1, num_inference_steps=30)
            ends: dict[str, float] = {}
            for i in range(args.tasks):
                task_id, took = run(client, "bench/sd", seed=2 + i)
                ends[task_id] = took
            calls = call_times(server)
            overheads = [(ends[t] - calls[t]) * 1000 for t in ends]
            print(f"overhead per task (end to end - pipeline call), {len(overheads)} tasks: "
                  f"median {statistics.median(overheads):.1f} ms, "
                  f"p90 {sorted(overheads)[int(0.9 * len(overheads))]:.1f} ms "
                  f"(pipeline call median {statistics.median(calls[t] for t in ends)*1000:.1f}"
                  " ms)")
            print(f"first task (import + load) {first:.2f} s; second task {second:.3f} s = "
                  f"{second / calls[second_id]:.2f} x its pipeline call "
                  f"({calls[second_id]:.3f} s): +{(second - calls[second_id]) * 1000:.1f} ms")
    finally:
        server.stop()

    # Head of line: one CPU worker and one diffusion worker.
    env = {**env, "GENMILL_GPUS": "0" if args.gpus == "none" else args.gpus}
    # "auto": a GPU model, for the diffusion worker (on the CPU where there is no GPU).
    (root / "models.toml").write_text(models_toml(folder, args.device, args.dtype, "auto"))
    server = LiveServer(root / "data2", env=env, workers=1, keys=None)
    server.start(timeout=300)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            run(client, "genmill/title-card-t2i", size="256x256")  # warm the CPU worker
            for i in range(5):
                client.post(IMAGES, json={"model": "bench/sd-long", "prompt": "x", "seed": i})
            _, card = run(client, "genmill/title-card-t2i", size="256x256")
            print(f"title card behind five long diffusion tasks: SUCCESS in {card:.2f} s "
                  "(target <= 2 s)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
