"""Server-sent events, parsed line by line without I/O (the WHATWG event-stream format).

Small enough to own: the clients must see every line, keep-alive comments included, to
keep a wait's deadline while a task is quiet (httpx-sse yields only whole events).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: str | None


class Parser:
    def __init__(self) -> None:
        self._event, self._data, self._id = "", [], None

    def feed(self, line: str) -> Message | None:
        """One line (without its end); a Message when a blank line completes one."""
        if line == "":
            if not self._data:
                self._event = ""
                return None
            message = Message(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None
