"""SIGTERM under load ends `genmill serve` within a bound, on both databases.

Clients keep many keep-alive connections busy polling, and two event streams stay open
(they never end by themselves): the server must still exit, cleanly, well within
STOP_BOUND. The bound is generous (the default GENMILL_SHUTDOWN_SECONDS is 5): it tells a
bounded stop from one that waits on its clients, not a fast stop from a slow one.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.conftest import KEYS, wait_for

IMAGES = "/v1/images/generations/async"
STOP_BOUND = 10.0  # seconds; without a bound the stop waited as long as the streams lasted
POLLERS = 24  # threads, each with its own keep-alive connection


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigterm_during_a_poll_load_with_open_streams_stops_in_bounded_time(
        database, make_server, request):
    env = {}
    if database == "postgresql":
        env["GENMILL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    # No workers: the task stays queued, so its event stream has no end of its own.
    server = make_server(workers=0, env=env).start()
    headers = {"Authorization": f"Bearer {KEYS['alice']}"}
    with server.client() as client:
        queued = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "waits"})
        assert queued.status_code == 200, queued.text
        task_id = queued.json()["task_id"]

    stop = threading.Event()
    polls = [0]
    streams_open = threading.Barrier(3, timeout=20)

    def poll() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
            while not stop.is_set():
                try:
                    assert c.get(f"{IMAGES}/{task_id}").status_code == 200
                    polls[0] += 1
                except httpx.HTTPError:  # the server went away: the point of the test
                    return

    def follow(path: str) -> None:
        try:
            with httpx.stream("GET", server.url + path, headers=headers, timeout=30) as r:
                assert r.status_code == 200
                streams_open.wait()
                for _ in r.iter_raw():
                    if stop.is_set():
                        return
        except httpx.HTTPError:  # cut by the stop, as expected
            pass

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(POLLERS)]
    threads += [threading.Thread(target=follow, args=(path,), daemon=True)
                for path in ("/v1/events", f"/v1/tasks/{task_id}/events")]
    for thread in threads:
        thread.start()
    try:
        streams_open.wait()  # both streams answered 200 and are open
        wait_for(lambda: polls[0] >= 200, 30)  # the load is on
        started = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout=STOP_BOUND)
        took = time.monotonic() - started
    finally:
        stop.set()
    assert code == 0, server.log()
    assert took < STOP_BOUND
    for thread in threads:
        thread.join(10)
