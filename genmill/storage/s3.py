"""Task files in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, R2, ...), so that API
and worker processes on many machines share them with no shared disk.

Layout under `s3://bucket/prefix`:
  tasks/<task_id>/<file>      outputs of a successful task
  inputs/<task_id>/<name>     images sent inline (data: URLs) with a submission
Runs still write into a local staging directory (engines need a filesystem); `commit`
uploads the files (large ones in parts, several parts at a time) before the worker marks
the task done, so a status never names an output that cannot be read yet. A failed upload
deletes what it had written: a task's outputs are there entirely or not at all.

The client is obstore (Rust's object_store): measured by `bench/s3_clients.py` against
boto3 on the same SeaweedFS, a HEAD (every file request starts with one) is about 14x
faster, a 1 MiB ranged read 1.8x, a large multipart upload 1.2x, a presigned URL 28x; it
also imports in milliseconds where boto3 loads botocore's service models.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from genmill.domain import kind_of_task_id
from genmill.storage.base import StoredFile, is_safe_name
from genmill.storage.presign import resign
from genmill.storage.staging import StagingArea, check_outputs

log = logging.getLogger("genmill.storage")

PART_SIZE = 8 * 1024 * 1024  # outputs larger than this go up in parts of this size
# Proxied downloads read the object in pieces of at least this size: per piece, a hop
# from obstore's runtime to the event loop and a send through the ASGI server. 4 MiB
# instead of 1 MiB took genmill's CPU per GiB proxied from ~1.5 to ~1.1-1.3 s
# (bench/s3_stream.py); it costs two pieces of memory per download in flight.
STREAM_PIECE = 4 * 1024 * 1024
_DELETE_BATCH = 1000  # S3's DeleteObjects limit


class StorageUnavailable(OSError):
    """The object store did not answer as it should (network, credentials, bucket)."""


def _key(area: str, task_id: str, name: str | None = None) -> str:
    if kind_of_task_id(task_id) is None:
        raise ValueError(f"not a task id: {task_id!r}")
    if name is None:
        return f"{area}/{task_id}"  # a listing prefix: whole path segments only
    if not is_safe_name(name):
        raise ValueError(f"unsafe file name {name!r}")
    return f"{area}/{task_id}/{name}"


def _store(bucket: str, prefix: str, endpoint: str) -> S3Store:
    """An S3Store; credentials and region come from the usual AWS_* variables."""
    options: dict = {"connect_timeout": timedelta(seconds=5), "timeout": timedelta(seconds=300)}
    config: dict = {}
    if endpoint:
        config.update(endpoint=endpoint.rstrip("/"), virtual_hosted_style_request=False)
        options["allow_http"] = urlsplit(endpoint).scheme == "http"
    # A few quick retries: a request waits on this, and a store that is down must show as
    # a 503 in seconds, not after obstore's default three minutes.
    retry = {"max_retries": 3, "retry_timeout": timedelta(seconds=10)}
    return S3Store(bucket, prefix=prefix or None, client_options=options, retry_config=retry,
                   **config)


class S3Storage:
    """`Storage` in an S3 bucket under a prefix, staging on the local disk."""

    is_local = False

    def __init__(self, url: str, staging_dir: Path, endpoint: str = "",
                 public_endpoint: str = "", delivery: str = "proxy",
                 presign_seconds: int = 300) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.store = _store(self.bucket, self.prefix, endpoint)
        # Presigned URLs carry the host they were signed for: sign for the one clients reach.
        self.signer = (_store(self.bucket, self.prefix, public_endpoint)
                       if public_endpoint and public_endpoint != endpoint else self.store)
        self.delivery = delivery
        self.presign_for = timedelta(seconds=presign_seconds)
        self.staging = StagingArea(staging_dir)

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    # -- a run's outputs -------------------------------------------------------------

    def new_staging(self, task_id: str) -> Path:
        return self.staging.new(task_id)

    def discard_staging(self, task_id: str) -> None:
        self.staging.discard(task_id)

    def commit(self, task_id: str, staging: Path, names: list[str],
               first_attempt: bool = False) -> None:
        """Upload the named files; all or nothing. The staging directory goes either way.

        On a task's first attempt no earlier run can have left outputs, so the task's
        prefix is not listed for them: that LIST took about three times as long as the
        PUT of a small output on SeaweedFS, and was the largest wait of a worker under
        bench/load.py (issue 18)."""
        check_outputs(staging, names)
        written: list[str] = []
        try:
            for name in names:
                key = _key("tasks", task_id, name)
                obstore.put(self.store, key, staging / name, chunk_size=PART_SIZE,
                            max_concurrency=4)
                written.append(key)
            if not first_attempt:
                # Outputs of an earlier attempt that this one did not write again.
                stale = [key for key in self._keys(_key("tasks", task_id))
                         if key not in written]
                self._delete(stale)
        except Exception as exc:
            self._delete(written, quiet=True)
            raise StorageUnavailable(f"upload to s3://{self.bucket} failed: {exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- reading outputs -------------------------------------------------------------

    def stat_output(self, task_id: str, name: str) -> StoredFile | None:
        try:
            key = _key("tasks", task_id, name)
        except ValueError:
            return None
        try:
            meta = obstore.head(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc
        etag = meta["e_tag"] or f'"{meta["size"]}-{meta["last_modified"].timestamp()}"'
        return StoredFile(task_id, name, meta["size"], etag,
                          meta["last_modified"].timestamp(), sendfile_path=None)

    def read_range(self, file: StoredFile, start: int = 0, end: int | None = None,
                   chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        end = file.size if end is None else end
        if start >= end:
            return
        try:
            # If-Match: the bytes of the object that was stat'ed, never of one put since.
            result = obstore.get(self.store, _key("tasks", file.task_id, file.name),
                                 options={"range": (start, end), "if_match": file.etag})
            for piece in result.stream(min_chunk_size=chunk_size):
                data = memoryview(piece)  # buffered to at least chunk_size; cut to size
                for offset in range(0, len(data), chunk_size):
                    yield bytes(data[offset:offset + chunk_size])
        except (NotFoundError, FileNotFoundError):
            raise FileNotFoundError(f"{file.task_id}/{file.name}") from None
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    async def stream_range(self, file: StoredFile, start: int = 0,
                           end: int | None = None) -> AsyncIterator[bytes]:
        # One GET of the whole range, read on obstore's own runtime and awaited on the
        # event loop: read_range's thread-pool hop per chunk (event loop -> pool thread
        # -> obstore's runtime and back) cost a fifth of the proxy's CPU.
        end = file.size if end is None else end
        if start >= end:
            return
        try:
            result = await obstore.get_async(
                self.store, _key("tasks", file.task_id, file.name),
                options={"range": (start, end), "if_match": file.etag})
            async for piece in result.stream(min_chunk_size=STREAM_PIECE):
                yield piece  # bytes: the one type granian sends without a slow path
        except (NotFoundError, FileNotFoundError):
            raise FileNotFoundError(f"{file.task_id}/{file.name}") from None
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    def read_output(self, task_id: str, name: str) -> bytes | None:
        try:
            key = _key("tasks", task_id, name)
        except ValueError:
            return None
        return self._get(key)

    def redirect_url(self, file: StoredFile, disposition: str | None = None) -> str | None:
        if self.delivery != "redirect":
            return None
        key = _key("tasks", file.task_id, file.name)
        url = obstore.sign(self.signer, "GET", key, self.presign_for)
        if disposition is None:
            return url
        # The store sets Content-Disposition from a signed response-content-disposition;
        # obstore's signer takes no such parameter, so the URL is signed again with it.
        # Credentials that are not static keys in the environment (an instance role)
        # cannot be: then the download is proxied.
        return resign(url, {"response-content-disposition": disposition},
                      os.environ.get("AWS_ACCESS_KEY_ID", ""),
                      os.environ.get("AWS_SECRET_ACCESS_KEY", ""))

    # -- inputs sent with a submission -----------------------------------------------

    def save_input(self, task_id: str, name: str, data: bytes) -> None:
        try:
            obstore.put(self.store, _key("inputs", task_id, name), data)
        except ValueError:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    def read_input(self, task_id: str, name: str) -> bytes:
        data = self._get(_key("inputs", task_id, name))
        if data is None:
            raise FileNotFoundError(f"input {name!r} of {task_id}")
        return data

    # -- cleanup ---------------------------------------------------------------------

    def delete_task(self, task_id: str) -> None:
        keys = self._keys(_key("tasks", task_id)) + self._keys(_key("inputs", task_id))
        self._delete(keys)
        self.staging.discard(task_id)

    def task_ids(self) -> Iterator[str]:
        # From the objects themselves: some servers (SeaweedFS) keep an emptied "folder"
        # in delimiter listings, which would name tasks that have no files left.
        seen: set[str] = set()
        for area in ("tasks", "inputs"):
            try:
                for batch in obstore.list(self.store, area, chunk_size=1000):
                    for meta in batch:
                        parts = meta["path"].split("/")
                        task_id = parts[-2] if len(parts) >= 3 else ""
                        if task_id not in seen and kind_of_task_id(task_id) is not None:
                            seen.add(task_id)
                            yield task_id
            except Exception as exc:
                raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket answers a signed request."""
        try:
            obstore.list_with_delimiter(self.store, "tasks/none")
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    # -- helpers ---------------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        try:
            return obstore.get(self.store, key).bytes().to_bytes()
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    def _keys(self, prefix: str) -> list[str]:
        try:
            return [meta["path"] for batch in obstore.list(self.store, prefix, chunk_size=1000)
                    for meta in batch]
        except Exception as exc:
            raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc

    def _delete(self, keys: list[str], quiet: bool = False) -> None:
        try:
            for start in range(0, len(keys), _DELETE_BATCH):
                obstore.delete(self.store, keys[start:start + _DELETE_BATCH])
        except Exception as exc:
            if not quiet:
                raise StorageUnavailable(f"s3://{self.bucket}: {exc}") from exc
            log.warning("could not delete %d object(s) from s3://%s: %s", len(keys),
                        self.bucket, exc)

