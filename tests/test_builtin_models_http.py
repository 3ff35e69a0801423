"""The built-in models end to end: submitted over HTTP, run by workers, outputs decoded."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from tests.conftest import KEYS, wait_final

IMAGES = "/v1/images/generations/async"
MESHES = "/v1/3d/generations"
VIDEOS = "/v1/video/generations"


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def scene(size=(320, 240)) -> Image.Image:
    """A small photo-like picture: sky gradient, ground, a bright sun."""
    image = Image.new("RGB", size)
    for y in range(size[1]):
        shade = int(80 + 150 * y / size[1])
        for x in range(size[0]):
            image.putpixel((x, y), (shade // 2, shade // 2 + 40, 200) if y < size[1] * 0.6
                           else (40, 120 + (x * 3) % 60, 50))
    from PIL import ImageDraw

    cx, cy, r = size[0] * 3 // 4, size[1] // 4, max(2, size[1] // 20)
    ImageDraw.Draw(image).ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 230, 150))
    return image


@pytest.fixture(scope="module")
def client(server):
    with server.client(KEYS["alice"]) as c:
        yield c


def run(client, path: str, body: dict, timeout: float = 120) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return wait_final(client, f"{path}/{response.json()['task_id']}", timeout=timeout)


def fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200
    return response.content


def test_models_lists_the_built_ins(client):
    tags = {m["id"]: m["tag"] for m in client.get("/v1/models").json()["data"]}
    assert tags["genmill/title-card-t2i"] == "text-to-image"
    assert tags["genmill/restyle-i2i"] == "image-to-image"
    assert tags["genmill/text3d-text-to-3d"] == "text-to-3d"
    assert tags["genmill/relief-image-to-3d"] == "image-to-3d"


def test_title_card_over_http_is_deterministic_by_seed(client):
    body = {"model": "genmill/title-card-t2i", "prompt": "Quarterly Review\nWhat we shipped",
            "size": "640x360", "seed": 77, "n": 2}
    first = run(client, IMAGES, body)
    assert first["status"] == "SUCCESS", first
    assert [u.rsplit("/", 1)[1] for u in first["outputs"]] == ["image-1.png", "image-2.png"]
    card = Image.open(io.BytesIO(fetch(first["outputs"][0])))
    assert card.size == (640, 360) and card.format == "PNG"
    assert len(card.convert("RGB").resize((32, 18)).getcolors(1000)) > 20  # not flat
    again = run(client, IMAGES, body)
    assert fetch(again["outputs"][0]) == fetch(first["outputs"][0])


def test_chinese_title_card_over_http(client):
    data = run(client, IMAGES, {"model": "genmill/title-card-t2i", "prompt": "你好，世界",
                                "size": "640x360"})
    assert data["status"] == "SUCCESS", data
    card = Image.open(io.BytesIO(fetch(data["outputs"][0])))
    assert card.size == (640, 360)


def test_characters_no_font_has_are_a_400_at_submit_naming_them(client):
    response = client.post(IMAGES, json={"model": "genmill/title-card-t2i",
                                         "prompt": "Party 🎉"})
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith("prompt:") and "U+1F389" in message


def test_every_built_in_says_what_its_prompt_does_with_examples_it_accepts(client):
    from genmill.engines.image import MODELS as IMAGE_MODELS
    from genmill.engines.mesh import MODELS as MESH_MODELS
    from genmill.engines.video import MODELS as VIDEO_MODELS

    listed = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    for spec in [*IMAGE_MODELS, *VIDEO_MODELS, *MESH_MODELS]:
        description = listed[spec.id]["description"]
        assert "prompt" in description.lower() and "Example prompt" in description, spec.id
        prompt = spec.params.model_json_schema()["properties"]["prompt"]
        assert len(prompt["description"]) > 60, spec.id
        assert prompt["examples"], spec.id
        for example in prompt["examples"]:
            spec.params.model_validate({"prompt": example})  # each example is accepted


@pytest.mark.parametrize("body,field,words", [
    ({"model": "genmill/title-card-t2i",
      "prompt": "a cat astronaut floating above the moon, oil painting"}, "prompt",
     "does not paint"),
    ({"model": "genmill/relief-image-to-3d", "prompt": "a cat on a sofa"}, "prompt",
     "names no material"),
])
def test_a_prompt_the_model_reads_nothing_from_is_a_400(client, body, field, words):
    path = MESHES if "3d" in body["model"] else IMAGES
    if "relief" in body["model"]:
        body = {**body, "image": data_url(scene((40, 30)))}
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith(field) and words in message


def test_restyle_over_http(client):
    data = run(client, IMAGES, {"model": "genmill/restyle-i2i", "style": "pixel-art",
                                "image": data_url(scene()), "output_format": "webp"})
    assert data["status"] == "SUCCESS", data
    out = Image.open(io.BytesIO(fetch(data["outputs"][0])))
    assert out.format == "WEBP" and out.size == (320, 240)
    by_prompt = run(client, IMAGES, {"model": "genmill/restyle-i2i",
                                     "prompt": "make it a pencil sketch",
                                     "image": data_url(scene(), "JPEG")})
    assert by_prompt["status"] == "SUCCESS", by_prompt


@pytest.mark.parametrize("body,field", [
    ({"model": "genmill/restyle-i2i", "style": "oil-paint"}, "style"),
    ({"model": "genmill/restyle-i2i", "prompt": "hello"}, "style"),
    ({"model": "genmill/title-card-t2i", "prompt": "x", "size": "9000x100"}, "size"),
    ({"model": "genmill/title-card-t2i", "prompt": "x", "n": 5}, "n"),
    ({"model": "genmill/title-card-t2i", "prompt": "x", "output_format": "gif"},
     "output_format"),
])
def test_image_model_bad_params_are_400(client, body, field):
    if body["model"] == "genmill/restyle-i2i":
        body = {**body, "image": data_url(scene((40, 30)))}
    response = client.post(IMAGES, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(field)


def test_restyle_of_an_undecodable_remote_image_is_refused(client):
    bad = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n garbage").decode()
    response = client.post(IMAGES, json={"model": "genmill/restyle-i2i", "style": "vintage",
                                         "image": bad})
    assert response.status_code == 400 and "image" in response.json()["message"]


def test_text3d_over_http_makes_valid_files(client):
    import trimesh

    data = run(client, MESHES, {"model": "genmill/text3d-text-to-3d", "prompt": "gold \"Hi\"",
                                "face_limit": 5000, "seed": 3}, timeout=180)
    assert data["status"] == "SUCCESS", data
    names = [u.rsplit("/", 1)[1] for u in data["outputs"]]
    assert names == ["model.glb", "model.stl", "preview.png"]
    stl = trimesh.load(io.BytesIO(fetch(data["outputs"][1])), file_type="stl")
    assert stl.is_watertight and stl.volume > 0 and len(stl.faces) <= 5000
    glb = fetch(data["outputs"][0])
    assert glb[:4] == b"glTF"
    head = httpx.head(data["outputs"][0])
    assert head.headers["content-type"] == "model/gltf-binary"
    assert Image.open(io.BytesIO(fetch(data["outputs"][2]))).size[0] >= 512


def test_relief_over_http(client):
    data = run(client, MESHES, {"model": "genmill/relief-image-to-3d",
                                "image": data_url(scene((96, 64))), "face_limit": 4000},
               timeout=180)
    assert data["status"] == "SUCCESS", data
    assert data["outputs"][1].endswith("model.stl")


def test_mesh_face_limit_out_of_range_says_the_range(client):
    response = client.post(MESHES, json={"model": "genmill/text3d-text-to-3d",
                                         "prompt": "x", "face_limit": 10})
    assert response.status_code == 400
    assert "face_limit" in response.json()["message"]
    assert "1000" in response.json()["message"] and "2000000" in response.json()["message"]
