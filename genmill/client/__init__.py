"""Python client for genmill (and other Siray-compatible servers).

    from genmill.client import Client

    with Client("http://127.0.0.1:8080", api_key="...") as gm:
        task = gm.run("image", "genmill/title-card-t2i", prompt="a red fox")
        task.raise_for_failure()
        print(gm.download(task, "out/"))
"""

from genmill.client.aio import AsyncClient
from genmill.client.errors import (
    APIError,
    AuthError,
    BadRequest,
    DownloadError,
    EventsUnsupported,
    GenmillError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    ServerUnreachable,
    TaskFailed,
    WaitTimeout,
)
from genmill.client.models import Kind, Model, Status, Task, TaskEvent, TaskPage
from genmill.client.sync import Client

__all__ = [
    "APIError", "AsyncClient", "AuthError", "BadRequest", "Client", "DownloadError",
    "EventsUnsupported", "GenmillError", "Kind", "Model", "NotFound", "ProtocolError",
    "RateLimited", "ServerError", "ServerUnreachable", "Status", "Task", "TaskEvent",
    "TaskFailed", "TaskPage", "WaitTimeout",
]
