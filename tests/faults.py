"""Fault injection for the fault tests and benches: a TCP proxy to cut, a small disk to
fill and free, processes to find."""

from __future__ import annotations

import contextlib
import errno
import socket
import subprocess
import threading
import time
from pathlib import Path


class CuttableProxy:
    """A TCP proxy (threads) in front of a server, e.g. PostgreSQL on 127.0.0.1:5432.

    `cut()` drops every open connection and refuses new ones, as a database restart or
    a network partition does, without touching the real server (others use it);
    `restore()` lets connections through again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._cut
            if refused:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _close(sock)
                with self._lock:
                    self._open.discard(sock)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets = list(self._open)
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self.listener)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def session_processes(session_id: int) -> list[int]:
    """Live processes of a session (a server started with start_new_session=True)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == session_id:
            found.append(int(entry.name))
    return found


def wait_until(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s")


def fill(path: Path) -> int:
    """Write zeros to `path` until its disk is full; the bytes written."""
    written = 0
    block = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as out:
        while True:
            try:
                written += out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        for size in (65536, 4096, 512, 1):  # the last scraps too
            while True:
                try:
                    written += out.write(b"\0" * size)
                except OSError:
                    break
    return written


class SmallDisk:
    """A tmpfs of `size_mib` mounted at `mountpoint` (as root), to fill and free while a
    deployment keeps its data there. `mount()` returns False where mounting is refused."""

    def __init__(self, mountpoint: Path, size_mib: int) -> None:
        self.mountpoint, self.size_mib = Path(mountpoint), size_mib
        self.filler = self.mountpoint / "chaos-filler"
        self.mounted = False
        self.error = ""

    def mount(self) -> bool:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mib}m",
                                 "tmpfs", str(self.mountpoint)], capture_output=True,
                                text=True)
        self.mounted, self.error = result.returncode == 0, result.stderr.strip()
        return self.mounted

    def fill(self) -> int:
        return fill(self.filler)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:  # lazily: a process that still has a file open there lets go later
            subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True)
            self.mounted = False
