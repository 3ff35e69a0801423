"""`POST /api/v1/videos` (the local API's generation endpoint) and its polling loop."""

from __future__ import annotations

import os
import subprocess
import textwrap

import av
import pytest

from tests.conftest import KEYS

SCRIPT = "Genmill runs on your own machines. It makes videos without a network."


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """No keys on loopback: the reference document's plain curl commands work as written."""
    from tests.conftest import LiveServer

    live = LiveServer(tmp_path_factory.mktemp("videos") / "data", workers=2, keys={}).start()
    yield live
    live.stop()


def test_reference_polling_loop_ends_in_done(open_server, tmp_path):
    """The polling loop of shared/reference/local-task-api.txt, run as written."""
    import httpx

    response = httpx.post(f"{open_server.url}/api/v1/videos", json={
        "video_subject": "Offline video", "video_script": SCRIPT, "video_aspect": "16:9",
        "video_count": 2, "subtitle_position": "bottom", "font_size": 40,
        "voice_name": "en-US-female", "video_source": "local",
        "video_concat_mode": "random", "n_threads": 2,  # sent by the family's clients
    }, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == 200 and body["message"] == "success"
    task_id = body["data"]["task_id"]
    script = tmp_path / "poll.sh"
    script.write_text(textwrap.dedent(f"""\
        TASK_ID="{task_id}"
        while true; do
        RESPONSE=$(curl -s "{open_server.url}/api/v1/tasks/$TASK_ID")
        STATE=$(echo $RESPONSE | python3 -c "import sys,json; print(json.load(sys.stdin)['data']['state'])")
        if [ "$STATE" = "1" ]; then
        echo "Done! $RESPONSE"
        break
        elif [ "$STATE" = "-1" ]; then
        echo "Failed: $RESPONSE"
        break
        fi
        echo "Progress: $(echo $RESPONSE | python3 -c "import sys,json; print(json.load(sys.stdin)['data']['progress'])")%"
        sleep 1
        done
        """))
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=400,
                            env={**os.environ})
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Done!"), result.stdout[-2000:]

    import json

    data = json.loads(last.removeprefix("Done! "))["data"]
    base = f"{open_server.url}/tasks/{task_id}/"
    assert data["videos"] == [base + "final-1.mp4", base + "final-2.mp4"]
    assert data["combined_videos"] == [base + "combined-1.mp4", base + "combined-2.mp4"]
    with av.open(f"{open_server.url}/api/v1/stream/{task_id}/final-1.mp4") as final:
        assert final.streams.video[0].codec_context.name == "h264"
        assert final.streams.audio  # narration
        assert final.streams.video[0].width > final.streams.video[0].height  # 16:9
    with av.open(f"{open_server.url}/api/v1/stream/{task_id}/combined-2.mp4") as combined:
        assert not combined.streams.audio  # picture only


@pytest.mark.parametrize("body,field", [
    ({"video_subject": "cats"}, "video_script"),  # would need an LLM to write the script
    ({"video_script": SCRIPT, "video_source": "pexels"}, "video_source"),
    ({"video_script": SCRIPT, "video_materials": [{"provider": "pixabay", "url": "x"}]},
     "video_materials[0].provider"),
    ({"video_script": SCRIPT, "video_materials": ["just a string"]}, "video_materials[0]"),
    ({"video_script": SCRIPT, "video_aspect": "4:5"}, "video_aspect"),
    ({"video_script": SCRIPT, "video_count": 9}, "video_count"),
    ({"video_script": SCRIPT, "voice_rate": 9}, "voice_rate"),
    ({"video_script": SCRIPT, "subtitle_position": "left"}, "subtitle_position"),
    ({"video_script": SCRIPT, "text_fore_color": "not-a-colour"}, "text_fore_color"),
    ({"video_script": SCRIPT, "surprise": 1}, "surprise"),
    ({"video_script": "   "}, "video_script"),
])
def test_bad_video_requests_are_400_in_the_local_shape(server, body, field):
    with server.client(KEYS["alice"]) as client:
        response = client.post("/api/v1/videos", json=body)
    assert response.status_code == 400, response.text
    data = response.json()
    assert set(data) == {"status", "message", "data"} and data["status"] == 400
    assert data["message"].startswith(field), data["message"]
