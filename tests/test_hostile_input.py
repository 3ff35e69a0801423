"""Hostile and careless input against a live server: every answer is a 4xx naming the
field, in the dialect's shape, never a 500 (issue 19, items 4, 7 and 9)."""

from __future__ import annotations

import base64
import struct
import zlib

import httpx
import pytest

from genmill.core.inputs import is_public_address
from tests.conftest import KEYS

SUBMITS = ["/v1/images/generations/async", "/v1/video/generations", "/v1/3d/generations",
           "/api/v1/videos"]
MODEL_OF = {"/v1/images/generations/async": "test/steps-t2i",
            "/v1/video/generations": "test/steps-t2v",
            "/v1/3d/generations": "test/steps-text-to-3d"}
AUTH = {"Authorization": f"Bearer {KEYS['alice']}"}


def post_raw(server, path: str, raw: bytes | str,
             content_type: str = "application/json") -> httpx.Response:
    headers = {**AUTH, "Content-Type": content_type}
    return httpx.post(server.url + path, content=raw, headers=headers, timeout=30)


def assert_refused(response: httpx.Response, status: int, path: str, *words: str) -> str:
    """The status, the dialect's error shape, and the words the message must name."""
    assert response.status_code == status, (path, response.status_code, response.text)
    body = response.json()
    if path.startswith("/api/v1"):
        assert body == {"status": status, "message": body["message"], "data": None}
    else:
        assert set(body) == {"code", "message", "data", "error"} and body["data"] is None
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body["message"]


def valid_body(path: str) -> dict:
    if path == "/api/v1/videos":
        return {"video_script": "One line."}
    return {"model": MODEL_OF[path]}


@pytest.mark.parametrize("path", SUBMITS)
def test_json_nested_ten_thousand_levels_is_a_400(server, path):
    deep = "[" * 10_000 + "]" * 10_000
    for raw in (deep, '{"prompt": ' + deep + "}", '{"a":' * 10_000 + "1" + "}" * 10_000):
        assert_refused(post_raw(server, path, raw), 400, path, "body", "nested")


@pytest.mark.parametrize("path", SUBMITS)
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused_at_the_door(server, path, number):
    field = "video_clip_duration" if path == "/api/v1/videos" else "seed"
    raw = ('{"model": "x", ' if path != "/api/v1/videos" else '{"video_script": "s", ') + \
        f'"{field}": {number}}}'
    assert_refused(post_raw(server, path, raw), 400, path, "body")


def test_an_integer_too_long_to_convert_is_a_400(server):
    path = SUBMITS[0]
    raw = '{"model": "test/steps-t2i", "seed": ' + "9" * 5000 + "}"
    assert_refused(post_raw(server, path, raw), 400, path, "body")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_a_float_param_sent_as_an_infinite_string_is_refused(server, value):
    path = "/v1/video/generations"
    response = httpx.post(server.url + path, headers=AUTH, timeout=30,
                          json={"model": "test/steps-t2v", "cfg_scale": value})
    assert_refused(response, 400, path, "cfg_scale", "finite")


def test_non_finite_numbers_never_reach_postgresql(make_server, postgres_url):
    """On PostgreSQL the JSON column itself refuses NaN: it must be refused before."""
    server = make_server(workers=0, env={"GENMILL_DATABASE_URL": postgres_url}).start(
        wait_ready=False)
    path = "/v1/video/generations"
    for raw in ('{"model": "test/steps-t2v", "cfg_scale": NaN}',
                '{"model": "test/steps-t2v", "cfg_scale": "Infinity"}',
                '{"model": "test/steps-t2v", "cfg_scale": 1e999}'):
        assert_refused(post_raw(server, path, raw), 400, path)
    ok = post_raw(server, path, '{"model": "test/steps-t2v", "cfg_scale": 7.5}')
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("materials", ["5", "true", "false", "NaN", "Infinity", '"a.png"',
                                       '{"url": "x"}', "[5]", '[{"url": 5}]'])
def test_video_materials_of_the_wrong_type_is_a_400(server, materials):
    path = "/api/v1/videos"
    raw = '{"video_script": "Hello.", "video_materials": ' + materials + "}"
    message = assert_refused(post_raw(server, path, raw), 400, path)
    assert "video_materials" in message or "body" in message


@pytest.mark.parametrize(("field", "value"), [("steps", True), ("step_ms", False),
                                              ("n", True), ("seed", True),
                                              ("priority", True)])
def test_true_or_false_where_a_number_is_expected_is_a_400(server, field, value):
    path = SUBMITS[0]
    response = httpx.post(server.url + path, headers=AUTH, timeout=30,
                          json={"model": "test/steps-t2i", field: value})
    assert_refused(response, 400, path, field)


def test_a_real_boolean_param_still_takes_true(server):
    response = httpx.post(server.url + SUBMITS[0], headers=AUTH, timeout=30,
                          json={"model": "test/steps-t2i", "ignore_cancel": True})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", SUBMITS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_submit_that_is_not_json_is_a_415_naming_its_content_type(server, path,
                                                                    content_type):
    import json

    response = post_raw(server, path, json.dumps(valid_body(path)), content_type)
    assert_refused(response, 415, path, "Content-Type", content_type.split(";")[0])


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "application/vnd.api+json", None])
def test_json_content_types_and_none_are_accepted(server, content_type):
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    response = httpx.post(server.url + SUBMITS[0], headers=headers, timeout=30,
                          content=b'{"model": "test/steps-t2i"}')
    assert response.status_code == 200, response.text


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [100_000, 20_000])
def test_a_png_declaring_a_huge_size_gets_the_size_limit_not_undecodable(server, side):
    data = "data:image/png;base64," + base64.b64encode(png_declaring(side, side)).decode()
    path = "/v1/images/generations/async"
    response = httpx.post(server.url + path, headers=AUTH, timeout=30,
                          json={"model": "test/echo-i2i", "image": data})
    message = assert_refused(response, 400, path, "image", "megapixel")
    assert "decodable" not in message


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of 127/8, 10/8, IMDS
    "64:ff9b:1::7f00:1", "64:ff9b:1:a00:1::",  # RFC 8215 local-use NAT64
    "2002:7f00:1::", "2002:c0a8:101::1",  # 6to4 of 127.0.0.1, 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "::7f00:1", "::a00:1",  # IPv4-compatible
    "::ffff:127.0.0.1", "::1", "fe80::1", "fc00::1",
])
def test_ipv6_addresses_embedding_a_private_ipv4_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1",
                                     "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_stay_public(address):
    assert is_public_address(address)


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::7f00:1]",
                                  "[2001:0:4136:e378:8000:63bf:80ff:fffe]"])
def test_submitting_a_url_on_an_embedding_prefix_is_a_400(server, host):
    path = "/v1/images/generations/async"
    response = httpx.post(server.url + path, headers=AUTH, timeout=30,
                          json={"model": "test/echo-i2i", "image": f"http://{host}:8080/a.png"})
    assert_refused(response, 400, path, "image", "private")


def test_openapi_lists_the_error_answers_of_each_route(server):
    schema = httpx.get(server.url + "/openapi.json").json()
    for path in SUBMITS:
        answers = set(schema["paths"][path]["post"]["responses"])
        assert {"200", "400", "401", "413", "415", "429", "503", "507"} <= answers, path
        assert "422" not in answers
    for path in ("/v1/images/generations/async/{task_id}", "/api/v1/tasks/{task_id}"):
        answers = set(schema["paths"][path]["get"]["responses"])
        assert {"200", "401", "404", "503"} <= answers, path
    assert "401" not in schema["paths"]["/tasks/{task_id}/{name}"]["get"]["responses"]
    limited = schema["paths"][SUBMITS[0]]["post"]["responses"]["429"]
    assert "Retry-After" in limited["headers"]
