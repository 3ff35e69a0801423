"""Claiming the listening port before the server and its workers start.

granian binds with SO_REUSEPORT on Linux, so a second server started on a taken port would
come up and silently share it. So we bind the address ourselves first, without
SO_REUSEPORT: any listener already there (another genmill, any other program) makes that
bind fail, and we say so in one line. Two genmill servers started at the same moment could
both pass that probe before either binds for real, so each also holds, for its lifetime, an
abstract Unix socket named after the port (Linux, where granian shares ports): the second
to ask fails the same way. The lock is per port, not per address: two genmill servers on
one port are refused even on different addresses, which errs on the safe side.
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass


class PortUnavailable(Exception):
    """The server cannot listen where it was asked to; the message is the one line to show."""


@dataclass
class Listener:
    host: str  # as configured (a name, or an address)
    address: str  # the numeric address the ASGI server binds (granian takes no names)
    port: int
    _lock: socket.socket | None = None

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the server."""
        address = self.address
        if address in ("0.0.0.0", "::"):  # every interface: this machine is one of them
            address = "127.0.0.1" if address == "0.0.0.0" else "::1"
        return f"http://{_bracketed(address)}:{self.port}"

    @property
    def all_interfaces(self) -> bool:
        return self.address in ("0.0.0.0", "::")

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def claim(host: str, port: int) -> Listener:
    """Resolve `host`, take the port's lock, and check that nothing listens there."""
    family, address = resolve(host, port)
    lock = _take_lock(port)
    try:
        _probe(family, address, port, host)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    return Listener(host=host, address=address, port=port, _lock=lock)


def resolve(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address to bind for `host` (brackets allowed around IPv6); IPv4 first for a
    name that has both, as `localhost` does, since most clients try it first."""
    name = host.strip().removeprefix("[").removesuffix("]") or None
    try:
        found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(f"cannot resolve host {host!r} ({exc.strerror}); "
                              "set GENMILL_HOST (or --host) to an address of this machine"
                              ) from None
    found.sort(key=lambda entry: entry[0] != socket.AF_INET)
    family, _, _, _, sockaddr = found[0]
    return family, sockaddr[0]


def in_use_message(port: int) -> str:
    return f"port {port} is already in use; set GENMILL_PORT (or --port) to a free port"


def _take_lock(port: int) -> socket.socket | None:
    if not sys.platform.startswith("linux"):
        return None  # no SO_REUSEPORT sharing elsewhere: the probe alone decides
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0genmill-port-{port}")  # abstract: gone when the last holder exits
    except OSError as exc:
        lock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(in_use_message(port)) from None
        raise
    return lock


def _probe(family: socket.AddressFamily, address: str, port: int, host: str) -> None:
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As servers do, so a port left in TIME_WAIT by the last run does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and address == "::":
            # Dual stack, as granian binds "::": an IPv4 listener on the port conflicts too.
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind((address, port))
    except OSError as exc:
        raise PortUnavailable(_bind_error(exc, host, port)) from None
    finally:
        probe.close()


def _bind_error(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return in_use_message(port)
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {host}: not an address of this machine; "
                "set GENMILL_HOST (or --host)")
    if exc.errno == errno.EACCES:
        return (f"port {port} needs privileges here; set GENMILL_PORT (or --port) to one "
                "above 1023")
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address
