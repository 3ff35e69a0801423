"""The official `siray` SDK (0.3.0) against genmill, with only base_url changed."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image
from siray import Siray
from siray.exceptions import AuthenticationError, BadRequestError

from tests.conftest import KEYS


@pytest.fixture
def sdk(server) -> Siray:
    return Siray(api_key=KEYS["alice"], base_url=server.url)


def test_image_generate_async_then_query_task(sdk):
    response = sdk.image.generate_async(model="test/steps-t2i", prompt="a lighthouse", n=2)
    assert response.task_id.startswith("image_")
    status = sdk.image.query_task(response.task_id)
    assert status.task_id == response.task_id
    # Spelled out as well: the SDK's is_completed() tests `status in "SUCCESS"`, a substring.
    assert status.status in ("QUEUED", "IN_PROGRESS", "SUCCESS"), status.status
    assert status.is_processing() or status.is_completed()
    assert status.action == "imageGenerate"


def test_image_run_polls_to_success_and_outputs_download(sdk):
    status = sdk.image.run(model="test/steps-t2i", prompt="a lighthouse", poll_interval=0.1,
                           timeout=30, seed=5)
    assert status.is_completed() and status.code == "success"
    assert status.progress_percent == 100 and status.fail_reason == ""
    assert status.finish_time >= status.start_time >= status.submit_time > 0
    image = httpx.get(status.result)
    assert image.status_code == 200
    Image.open(__import__("io").BytesIO(image.content)).verify()


def test_image_run_reports_failure(sdk):
    status = sdk.image.run(model="test/steps-t2i", prompt="x", poll_interval=0.1, timeout=30,
                           fail="out of ink")
    assert status.is_failed() and "out of ink" in status.fail_reason


def test_image_to_image_with_a_local_file(sdk, tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(path)
    status = sdk.image.run(model="test/echo-i2i", prompt="", image=sdk.load_from_local(str(path)),
                           poll_interval=0.1, timeout=30)
    assert status.is_completed(), status.fail_reason


def test_video_generate_async_and_query(sdk):
    response = sdk.video.generate_async(model="test/steps-t2v", prompt="waves", duration=3)
    assert response.task_id.startswith("video_")
    status = sdk.video.run(model="test/steps-t2v", prompt="waves", poll_interval=0.1, timeout=30)
    assert status.is_completed() and status.action == "videoGenerate"
    final = sdk.video.query_task(response.task_id)
    assert final.task_id == response.task_id


def test_sdk_error_types(server):
    with pytest.raises(AuthenticationError):
        Siray(api_key="wrong", base_url=server.url).image.generate_async(
            model="test/steps-t2i", prompt="x")
    sdk = Siray(api_key=KEYS["alice"], base_url=server.url)
    with pytest.raises(BadRequestError) as caught:
        sdk.image.generate_async(model="test/steps-t2i", prompt="x", n=10)
    assert "n:" in caught.value.message and caught.value.code == "invalid_request"
