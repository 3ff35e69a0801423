"""One-shot check on a GPU machine: the tiny pipelines on CUDA in float16 through a real
`genmill serve`, then the figures of bench/models.py on the GPU.

Prepare on a machine with the registries (the GPU machine has torch but no internet):

    pip download -d shared/wheels 'diffusers==0.42.1' 'transformers==5.24.0' \\
        'accelerate==1.15.0' -r <(pip freeze | grep -v -i -E '^(torch|genmill)')

Then on the GPU machine, from the repository root, in one go:

    python bench/gpu_check.py --wheels shared/wheels

It installs genmill and the wheels without an index (torch as found), checks that CUDA
is there, runs a text-to-image task on cuda/float16 and checks the PNG, then prints the
overhead, load-once and head-of-line figures (baselines as in bench/models.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def step(title: str, command: list[str]) -> None:
    print(f"== {title}: {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"{title} failed with exit code {done.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheels", default="", help="folder of wheels to install offline")
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    python = sys.executable
    if args.wheels:
        step("install", [python, "-m", "pip", "install", "--no-index", "--find-links",
                         args.wheels, "--no-deps", "-e", "."])
        names = sorted({p.name.split("-")[0] for p in Path(args.wheels).glob("*.whl")})
        step("install the wheels", [python, "-m", "pip", "install", "--no-index",
                                    "--find-links", args.wheels, *names])
    step("cuda", [python, "-c", "import torch; assert torch.cuda.is_available(), 'no CUDA'; "
                  "print(torch.__version__, torch.cuda.get_device_name(0))"])
    step("figures on cuda/float16", [python, "bench/models.py", "--device", "cuda",
                                     "--dtype", "float16", "--gpus", "0",
                                     "--tasks", str(args.tasks)])
    print("== done", flush=True)


if __name__ == "__main__":
    main()
