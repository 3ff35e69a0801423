"""Presigned S3 GETs that override response headers (`response-content-disposition`).

obstore signs a GET for a path but takes no extra query parameters, and a SigV4 query
signature covers every parameter, so one cannot be appended afterwards. A download in
redirect delivery needs `Content-Disposition: attachment; filename=...` on the object
store's answer, which S3 (and SeaweedFS, MinIO, R2) set from a signed
`response-content-disposition` parameter. So this module re-signs the URL obstore made:
same host, path, date, scope and expiry (obstore has already worked out path or
virtual-host style and the path's encoding), plus the overrides, with the secret key.

Only static credentials can be used this way (the secret comes from the environment,
`AWS_SECRET_ACCESS_KEY`); `resign` returns None otherwise and the caller proxies.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

_ALGORITHM = "AWS4-HMAC-SHA256"


def _encode(value: str) -> str:
    """SigV4's URI encoding: everything but the unreserved characters (RFC 3986)."""
    return quote(value, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def resign(url: str, overrides: dict[str, str], access_key: str, secret_key: str) -> str | None:
    """`url` (a presigned GET) with `overrides` (e.g. response-content-disposition)
    added and signed again; None if it was not signed by `access_key` with SigV4 over the
    host header alone (then these credentials cannot stand in for obstore's)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    credential = params.get("X-Amz-Credential", "").split("/")
    if (params.get("X-Amz-Algorithm") != _ALGORITHM or len(credential) != 5
            or credential[0] != access_key or params.get("X-Amz-SignedHeaders") != "host"
            or not secret_key):
        return None
    _, day, region, service, terminator = credential
    params.pop("X-Amz-Signature", None)
    params.update(overrides)
    query = "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(params.items()))
    canonical = "\n".join(["GET", parts.path or "/", query, f"host:{parts.netloc}", "",
                           "host", "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/{service}/{terminator}"
    to_sign = "\n".join([_ALGORITHM, params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, terminator):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return urlunsplit((parts.scheme, parts.netloc, parts.path,
                       f"{query}&X-Amz-Signature={signature}", ""))
