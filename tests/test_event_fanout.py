"""An event stream's inline path (api/siray_events.py): the hub hands a waiting stream
each event, and the stream's bytes go to the ASGI send on the hub's task. These drive the
stream in this process with a send of the test's own, to reach what a real server does
rarely: a send that cannot complete at once (a client that reads slowly), and one that
fails."""

from __future__ import annotations

import asyncio

import pytest

from genmill.api.event_hub import KEEPALIVE, Subscription
from genmill.api.siray_events import (
    KEEPALIVE_TEXT,
    EventRenderer,
    EventStreamResponse,
    Replay,
)
from genmill.domain import Kind, Status, TaskEvent


def event(seq: int, status: Status = Status.IN_PROGRESS) -> TaskEvent:
    return TaskEvent(seq, "image_x", Kind.IMAGE, "text-to-image", "", status, seq, (), "",
                     1.0, 2.0, None)


class Client:
    """An ASGI send that records bodies and, while `stalled`, suspends every send (a
    full buffer) until `release()`."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.stalled = False
        self.open = asyncio.Event()
        self.open.set()
        self.fail: Exception | None = None

    def release(self) -> None:
        self.stalled = False
        self.open.set()

    async def send(self, message: dict) -> None:
        if self.fail is not None:
            raise self.fail
        if self.stalled:
            self.open.clear()
            await self.open.wait()
        self.bodies.append(message["body"])

    def progress(self) -> list[int]:
        text = b"".join(self.bodies).decode()
        return [int(line.split('"progress":"')[1].split("%")[0])
                for line in text.splitlines() if line.startswith("data:")]


async def live_stream(client: Client) -> tuple[Subscription, asyncio.Task]:
    sub = Subscription(0, "image_x", None, lambda s: None, 0.0)
    replay = Replay()
    response = EventStreamResponse(sub, EventRenderer(None, "http://test"), replay,
                                   _nothing(), final_ends=True)
    task = asyncio.ensure_future(response._live(client.send))
    await asyncio.sleep(0)
    return sub, task


async def _nothing():
    return
    yield


def test_events_are_sent_inline_without_waking_the_stream():
    async def scenario() -> None:
        client = Client()
        sub, task = await live_stream(client)
        sub.push(event(1))
        sub.push(KEEPALIVE)
        sub.push(event(2))
        # Sent during push itself, on this (the hub's) task: no loop turn in between.
        assert client.progress() == [1, 2] and client.bodies[1] == KEEPALIVE_TEXT
        sub.push(event(3, Status.SUCCESS))  # the final one: the stream's task sends it
        await asyncio.wait_for(task, 2)
        assert client.progress() == [1, 2, 3]

    asyncio.run(scenario())


def test_a_send_that_must_wait_is_finished_by_the_stream_in_order():
    async def scenario() -> None:
        client = Client()
        sub, task = await live_stream(client)
        sub.push(event(1))
        client.stalled = True
        sub.push(event(2))  # begun inline; it waits for the client
        for seq in range(3, 8):  # meanwhile: queued behind it, not sent inline
            sub.push(event(seq))
        await asyncio.sleep(0.05)
        assert client.progress() == [1] and not task.done()
        client.release()
        await asyncio.sleep(0.05)
        assert client.progress() == [1, 2, 3, 4, 5, 6, 7]
        sub.push(event(8))  # waiting again: inline again
        assert client.progress()[-1] == 8
        sub.end()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())


def test_a_stream_whose_waiting_send_is_cancelled_ends_cleanly():
    async def scenario() -> None:
        client = Client()
        sub, task = await live_stream(client)
        client.stalled = True
        sub.push(event(1))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.progress() == []

    asyncio.run(scenario())


def test_a_send_that_fails_inline_fails_the_stream():
    async def scenario() -> None:
        client = Client()
        sub, task = await live_stream(client)
        client.fail = ConnectionResetError("gone")
        sub.push(event(1))
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
