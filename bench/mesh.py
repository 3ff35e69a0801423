"""Figures for the built-in 3D models (issue 6).

- text3d "genmill" with a bevel at face_limit 100k: median run time.
- relief and lithophane of a 2048x2048 image at face_limit 200k and 1M: median run time,
  peak RSS (each case in a fresh process), and the ratio to trimesh's own GLB + STL export
  of a mesh of the same size (the floor for writing the files).

Usage: python bench/mesh.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    """This process's high-water RSS. VmHWM starts afresh at exec; ru_maxrss is inherited
    from the parent on Linux, so it would report the sample maker's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_case(case: str, runs: int, image_path: str) -> dict:
    import numpy as np
    import trimesh

    from genmill.engines.base import InputFile, Inputs, RunContext
    from genmill.engines.mesh import MODELS
    from genmill.engines.mesh.export import write_glb, write_stl

    specs = {s.id: s for s in MODELS}
    kind, _, limit = case.partition(":")
    if kind == "text3d":
        spec = specs["genmill/text3d-text-to-3d"]
        params = spec.params.model_validate(
            {"text": "genmill", "bevel": 1.5, "face_limit": int(limit)})
        inputs = Inputs()
    else:
        spec = specs["genmill/relief-image-to-3d"]
        params = spec.params.model_validate({"mode": kind, "face_limit": int(limit)})
        data = Path(image_path).read_bytes()
        inputs = Inputs({"image": [InputFile(data, "image/jpeg", "bench")]})
    engine = spec.factory()
    times: list[float] = []
    triangles = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            engine.run(params, inputs, RunContext("bench", 1, Path(tmp)))
            times.append(time.perf_counter() - start)
            triangles = len(trimesh.load(Path(tmp) / "model.stl").faces)
    peak_mb = _peak_rss_mb()

    # Our writers alone vs trimesh's exporters, on one mesh of the same size.
    from genmill.engines.mesh import relief as relief_mod
    from genmill.engines.mesh.materials import resolve

    result = {"case": case, "median_s": statistics.median(times), "peak_rss_mb": peak_mb,
              "triangles": triangles}
    if kind != "text3d":
        cols, rows = relief_mod.grid_size(2048, 2048, int(limit))
        z = np.random.default_rng(0).random((rows, cols)) + 2
        mesh = relief_mod.heightfield_mesh(z, 100.0, 100.0, lambda: None)
        material = resolve("", None, None, None, texture_enable=False, pbr_enable=True)
        ours, theirs = [], []
        tm = trimesh.Trimesh(mesh.positions, mesh.faces, vertex_normals=mesh.normals,
                             process=False)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(runs):
                start = time.perf_counter()
                write_glb(Path(tmp) / "a.glb", mesh, material)
                write_stl(Path(tmp) / "a.stl", mesh)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                tm.export(Path(tmp) / "b.glb")
                tm.export(Path(tmp) / "b.stl")
                theirs.append(time.perf_counter() - start)
        floor = statistics.median(theirs)
        result.update({
            "trimesh_export_s": floor,
            "our_write_s": statistics.median(ours),
            "run_over_trimesh_export": result["median_s"] / floor,
            "write_over_trimesh_export": statistics.median(ours) / floor,
        })
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_run_case(args.case, args.runs, args.image)))
        return
    from genmill.engines.mesh import samples

    # Made once here so the children's peak RSS is the model's, not the sample maker's.
    image = Path(tempfile.mkdtemp()) / "photo-2048.jpg"
    image.write_bytes(samples.encode(samples.photo(2048, 2048), "JPEG"))
    cases = ["text3d:100000", "relief:200000", "relief:1000000", "lithophane:200000",
             "lithophane:1000000"]
    print(f"{'case':<20}{'triangles':>10}{'median s':>10}{'peak MB':>9}"
          f"{'trimesh s':>10}{'run/trimesh':>12}{'write/trimesh':>14}")
    for case in cases:
        runs = max(args.runs, 5) if case.startswith("text3d") else args.runs
        done = subprocess.run(
            [sys.executable, __file__, "--case", case, "--runs", str(runs), "--image", str(image)],
            capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        extra = (f"{r['trimesh_export_s']:>10.2f}{r['run_over_trimesh_export']:>12.1f}"
                 f"{r['write_over_trimesh_export']:>14.2f}" if "trimesh_export_s" in r else "")
        print(f"{case:<20}{r['triangles']:>10}{r['median_s']:>10.2f}{r['peak_rss_mb']:>9.0f}"
              + extra)


if __name__ == "__main__":
    main()
