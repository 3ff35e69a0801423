"""Server-sent events read by real clients (httpx streaming, curl -N) from real servers."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import httpx
import pytest

from tests.conftest import KEYS, wait_final

IMAGES = "/v1/images/generations/async"
FAST_KEEPALIVE = {"GENMILL_EVENTS_KEEPALIVE": "0.3"}


def submit(client: httpx.Client, **body) -> str:
    response = client.post(IMAGES, json={"model": "test/steps-t2i", **body})
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def parse_sse(lines) -> list[dict]:
    """SSE messages as dicts (id, event, data decoded, comment), from an iterable of
    lines; a message ends at a blank line."""
    messages, current = [], {}
    for line in lines:
        if line == "":
            if current:
                messages.append(current)
            current = {}
        elif line.startswith(":"):
            messages.append({"comment": line[1:].strip()})
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[name] = json.loads(value) if name == "data" else value
    if current:
        messages.append(current)
    return messages


def read_events(client: httpx.Client, path: str, stop_after: int | None = None,
                **headers) -> tuple[list[dict], httpx.Headers]:
    """The status events of one stream, read until the server ends it (or `stop_after`
    events were read, then the client hangs up)."""
    events: list[dict] = []
    with client.stream("GET", path, headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        pending: list[str] = []
        for line in response.iter_lines():
            pending.append(line)
            if line == "":
                events += [m for m in parse_sse(pending) if "event" in m]
                pending = []
                if stop_after is not None and len(events) >= stop_after:
                    break
        return events, response.headers


def check_one_task_story(events: list[dict], task_id: str) -> None:
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids)), ids  # rising, no repeats
    assert all(e["event"] == "status" and e["data"]["task_id"] == task_id for e in events)
    statuses = [e["data"]["status"] for e in events]
    assert statuses[-1] == "SUCCESS" and statuses.count("SUCCESS") == 1
    progress = [int(e["data"]["progress"].rstrip("%")) for e in events]
    assert progress == sorted(progress)


def test_a_running_task_streams_its_changes_in_order_then_ends(server):
    with server.client() as client:
        task_id = submit(client, steps=6, step_ms=150)
        events, headers = read_events(client, f"/v1/tasks/{task_id}/events")
        assert headers["content-type"].startswith("text/event-stream")
        check_one_task_story(events, task_id)
        assert len({e["data"]["progress"] for e in events}) >= 3  # progress as it ran
        final = wait_final(client, f"{IMAGES}/{task_id}")
        last = events[-1]["data"]
        assert {k: v for k, v in last.items() if k != "queue_position"} == final
        assert last["queue_position"] is None
        # A finished task: its current (final) state, then the end.
        again, _ = read_events(client, f"/v1/tasks/{task_id}/events")
        assert again == events[-1:]


def test_under_uvicorn_a_task_streams_its_changes_in_order_then_ends(make_server):
    """The live events go out by stepping the ASGI send inline on the hub's task; under
    uvicorn that send is a coroutine, under granian an object of its own."""
    live = make_server(env={"GENMILL_SERVER": "uvicorn"}).start()
    with live.client() as client:
        task_id = submit(client, steps=6, step_ms=150)
        events, headers = read_events(client, f"/v1/tasks/{task_id}/events")
        assert headers["server"] == "uvicorn"
        check_one_task_story(events, task_id)
        assert len({e["data"]["progress"] for e in events}) >= 3


def test_a_reconnect_with_last_event_id_loses_nothing_and_repeats_nothing(server):
    with server.client() as client:
        task_id = submit(client, steps=12, step_ms=100)
        first, _ = read_events(client, f"/v1/tasks/{task_id}/events", stop_after=2)
        rest, _ = read_events(client, f"/v1/tasks/{task_id}/events",
                              **{"Last-Event-ID": first[-1]["id"]})
        whole, _ = read_events(client, f"/v1/tasks/{task_id}/events?last_event_id=0")
        check_one_task_story(whole, task_id)
        assert first + rest == whole[len(whole) - len(first) - len(rest):]
        assert [e["id"] for e in whole].index(first[0]["id"]) + len(first) + len(rest) == \
            len(whole)


def test_curl_follows_a_task_to_its_end(server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    with server.client() as client:
        task_id = submit(client, steps=4, step_ms=100)
    out = subprocess.run(
        [curl, "-N", "-sS", "--max-time", "60", "-H", f"Authorization: Bearer {KEYS['alice']}",
         f"{server.url}/v1/tasks/{task_id}/events"],
        capture_output=True, text=True, check=True,
    ).stdout
    events = [m for m in parse_sse(out.splitlines()) if "event" in m]
    check_one_task_story(events, task_id)


def test_keys_and_bad_input(server):
    with server.client() as alice, server.client(KEYS["bob"]) as bob:
        task_id = submit(alice, steps=1)
        missing = bob.get(f"/v1/tasks/{task_id}/events")
        assert missing.status_code == 404 and missing.json()["data"] is None
        bad = alice.get(f"/v1/tasks/{task_id}/events", headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["message"]
        assert server.client(None).get("/v1/events").status_code == 401


def follow(client: httpx.Client, path: str, until, on_message=lambda m: None) -> list[dict]:
    """Every message of a stream (comments too) until `until(message)` holds."""
    seen: list[dict] = []
    with client.stream("GET", path, timeout=20) as response:
        assert response.status_code == 200
        pending: list[str] = []
        for line in response.iter_lines():
            pending.append(line)
            if line != "":
                continue
            for message in parse_sse(pending):
                seen.append(message)
                on_message(message)
                if until(message):
                    return seen
            pending = []
    raise AssertionError(f"stream ended early: {seen}")


def test_the_key_stream_carries_only_its_own_tasks_and_keeps_alive(make_server):
    live = make_server(workers=1, env=FAST_KEEPALIVE).start()
    with live.client() as alice, live.client(KEYS["bob"]) as bob:
        listening, bob_task, seen_by_bob = threading.Event(), [], []

        def bob_follows() -> None:
            def is_end(message: dict) -> bool:
                data = message.get("data") or {}
                return bool(bob_task) and data.get("task_id") == bob_task[0] and \
                    data["status"] == "SUCCESS"

            def on_message(message: dict) -> None:
                if message.get("comment") == "keep-alive":
                    listening.set()
            seen_by_bob.extend(follow(bob, "/v1/events", is_end, on_message))

        reader = threading.Thread(target=bob_follows)
        reader.start()
        assert listening.wait(30)
        alice_id = submit(alice, steps=3, step_ms=50)
        assert wait_final(alice, f"{IMAGES}/{alice_id}")["status"] == "SUCCESS"
        bob_task.append(submit(bob, steps=1))
        reader.join(30)
        assert not reader.is_alive()
        bob_events = [m for m in seen_by_bob if "event" in m]
        assert {e["data"]["task_id"] for e in bob_events} == {bob_task[0]}
        # The key's stream replayed from the start: Alice's task, whole and in order.
        replayed = follow(alice, "/v1/events?last_event_id=0",
                          lambda m: (m.get("data") or {}).get("status") == "SUCCESS")
        check_one_task_story([m for m in replayed if "event" in m], alice_id)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_server_processes_on_one_database(make_server, database, request):
    env = {}
    if database == "postgresql":
        env["GENMILL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    runner = make_server(workers=1, env=env).start()
    reader = make_server(workers=0, env=env, data_dir=runner.data_dir).start(wait_ready=False)
    with runner.client() as via_runner, reader.client() as via_reader:
        task_id = submit(via_runner, steps=8, step_ms=100)
        first, _ = read_events(via_reader, f"/v1/tasks/{task_id}/events", stop_after=2)
        rest, _ = read_events(via_reader, f"/v1/tasks/{task_id}/events",
                              **{"Last-Event-ID": first[-1]["id"]})
        check_one_task_story(first + rest, task_id)
        whole, _ = read_events(via_runner, f"/v1/tasks/{task_id}/events?last_event_id=0")
        assert [e["id"] for e in whole][-len(first + rest):] == [e["id"] for e in first + rest]


def test_openapi_documents_both_streams(server):
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    for path in ("/v1/tasks/{task_id}/events", "/v1/events"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert "text/event-stream" in content


def read_until_end(live, path: str, results: dict, opened: threading.Semaphore
                   ) -> threading.Thread:
    """Reads a stream in a thread until the server ends it; `results[path]` is then the
    events read, or the error that cut the stream. `opened` is released once the
    response began (the stream is subscribed by then)."""
    def read() -> None:
        try:
            with live.client() as client, \
                    client.stream("GET", path, timeout=60) as response:
                assert response.status_code == 200
                opened.release()
                results[path] = [m for m in parse_sse(response.iter_lines()) if "event" in m]
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[path] = exc
    thread = threading.Thread(target=read)
    thread.start()
    return thread


def test_open_streams_end_at_once_on_sigterm_and_do_not_hold_the_server(make_server):
    # No worker: the task waits, so its stream would never end by itself; keep-alives
    # far apart, so nothing but the shutdown can end the streams.
    live = make_server(workers=0, env={"GENMILL_EVENTS_KEEPALIVE": "120"}).start()
    with live.client() as client:
        task_id = submit(client)
    results: dict = {}
    opened = threading.Semaphore(0)
    paths = (f"/v1/tasks/{task_id}/events", "/v1/events")
    readers = [read_until_end(live, path, results, opened) for path in paths]
    for _ in paths:
        assert opened.acquire(timeout=20)
    assert not results, results
    # Before, granian waited for the open responses and the server never exited (the
    # fixture's SIGKILL ended it). Now each stream ends cleanly and the server exits.
    assert live.stop(timeout=20) == 0
    for reader in readers:
        reader.join(10)
    assert [e["data"]["status"] for e in results[paths[0]]] == ["QUEUED"]  # the state
    assert results[paths[1]] == []  # a complete (chunked) end, not a cut connection


def test_a_deleted_tasks_stream_ends(make_server):
    live = make_server(workers=0, env=FAST_KEEPALIVE).start()
    with live.client() as client:
        task_id = submit(client)
        results: dict = {}
        opened = threading.Semaphore(0)
        path = f"/v1/tasks/{task_id}/events"
        reader = read_until_end(live, path, results, opened)
        assert opened.acquire(timeout=20)
        assert client.delete(f"/api/v1/tasks/{task_id}").status_code in (200, 204)
        reader.join(20)
    assert not reader.is_alive()
    assert isinstance(results[path], list), results[path]
