"""Fetching input URLs without becoming a proxy into the private network.

Every address a host name resolves to is checked, the connection goes to the checked
address (so a second DNS answer cannot swap it), redirects are followed by hand and
checked again, and the body is capped while it streams. `timeout` bounds the whole fetch
(redirects and the body included), not each read: a server that trickles a byte now
and then cannot hold a worker. The bytes must be an image within the pixel limit.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from genmill.core.errors import InvalidRequest
from genmill.core.inputs import check_image_bytes, is_public_address
from genmill.engines.base import InputError, InputFile

MAX_REDIRECTS = 3


def resolve_public(host: str, port: int, allow_private: bool) -> str:
    """One address of `host` to connect to; refuses if any address is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        refused = [a for a in addresses if not is_public_address(a)]
        if refused:
            raise InputError(
                f"refused to fetch from {host!r}: it resolves to a private, loopback, "
                f"link-local or multicast address ({refused[0]})"
            )
    return addresses[0]


def fetch_image(
    url: str,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
) -> InputFile:
    deadline = time.monotonic() + timeout
    try:
        data, content_type = _download(url, max_bytes, timeout, deadline, allow_private)
    except (httpx.TimeoutException, _Overtime):
        raise InputError(f"fetching {url} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise InputError(f"fetching {url} failed: {exc}") from None
    try:
        check_image_bytes(data, "image")
    except InvalidRequest as exc:
        raise InputError(f"{url}: {exc.message.removeprefix('image: ')}") from None
    return InputFile(data, content_type, url)


class _Overtime(Exception):
    """The whole fetch took longer than its timeout."""


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Overtime()
    return left


def _download(url: str, max_bytes: int, timeout: float, deadline: float,
              allow_private: bool) -> tuple[bytes, str]:
    current = url
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InputError(f"input URL must be http(s): {current}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = resolve_public(parts.hostname, port, allow_private)
            literal = f"[{address}]" if ":" in address else address
            pinned = urlunsplit(
                (parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, "")
            )
            headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"}
            # No single wait may outlast the whole fetch's deadline.
            with client.stream(
                "GET", pinned, headers=headers, timeout=_remaining(deadline),
                extensions={"sni_hostname": parts.hostname},
            ) as response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise InputError(f"fetching {url} answered HTTP {response.status_code}")
                content_type = response.headers.get("content-type", "").split(";")[0]
                if not content_type.startswith("image/") and content_type not in (
                    "application/octet-stream", "binary/octet-stream", ""):
                    raise InputError(f"{url} is {content_type!r}, not an image")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise InputError(f"{url} is {declared} bytes; the limit is {max_bytes}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise InputError(f"{url} is over the {max_bytes}-byte limit")
                    _remaining(deadline)
                return bytes(body), content_type
    raise InputError(f"{url} redirected more than {MAX_REDIRECTS} times")
