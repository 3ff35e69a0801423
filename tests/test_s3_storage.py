"""S3Storage against a real S3-compatible server (SeaweedFS): the Storage protocol, uploads
in parts, all-or-nothing commits, traversal refusals, and signatures it checks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets

import pytest

from genmill.domain import Kind, new_task_id
from genmill.storage import Storage
from genmill.storage.s3 import PART_SIZE, S3Storage, StorageUnavailable
from tests.conftest import LIMITED_S3_KEY


@pytest.fixture(autouse=True)
def aws_credentials(seaweed, monkeypatch):
    """The S3 storage reads AWS_* like every AWS tool; set for each test only."""
    for name, value in seaweed.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


def make_storage(seaweed, tmp_path, prefix: str | None = None, **kwargs) -> S3Storage:
    prefix = prefix or f"unit-{secrets.token_hex(4)}"
    return S3Storage(f"s3://{seaweed.bucket}/{prefix}", tmp_path / "staging",
                     endpoint=seaweed.endpoint, **kwargs)


def stage(storage: S3Storage, task_id: str, files: dict[str, bytes]):
    staging = storage.new_staging(task_id)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    return staging


def test_outputs_inputs_and_delete_round_trip(seaweed, tmp_path):
    storage = make_storage(seaweed, tmp_path)
    assert isinstance(storage, Storage)
    task_id = new_task_id(Kind.VIDEO)
    big = os.urandom(2 * PART_SIZE + 12345)  # three parts: a multipart upload
    small = b"\x89PNG small output"
    staging = stage(storage, task_id, {"video-1.mp4": big, "poster.png": small,
                                       "scratch.tmp": b"not an output"})
    storage.commit(task_id, staging, ["video-1.mp4", "poster.png"])
    assert not staging.exists()  # staging goes once uploaded

    prefix = storage.prefix
    assert sorted(seaweed.keys(prefix)) == [f"{prefix}/tasks/{task_id}/poster.png",
                                            f"{prefix}/tasks/{task_id}/video-1.mp4"]
    file = storage.stat_output(task_id, "video-1.mp4")
    assert file.size == len(big) and file.sendfile_path is None
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=f"{prefix}/tasks/{task_id}/"
                                        "video-1.mp4")
    assert file.etag == head["ETag"] and file.etag.startswith('"')
    assert abs(file.modified - head["LastModified"].timestamp()) < 1
    assert b"".join(storage.read_range(file)) == big
    assert b"".join(storage.read_range(file, 5, 5 + PART_SIZE)) == big[5:5 + PART_SIZE]
    assert b"".join(storage.read_range(file, len(big) - 3)) == big[-3:]
    assert all(len(chunk) <= 1024 * 1024 for chunk in storage.read_range(file, 0, 3 << 20))

    async def streamed(start, end):
        return [chunk async for chunk in storage.stream_range(file, start, end)]

    pieces = asyncio.run(streamed(0, None))
    assert b"".join(pieces) == big and all(type(piece) is bytes for piece in pieces)
    assert b"".join(asyncio.run(streamed(7, 7 + PART_SIZE))) == big[7:7 + PART_SIZE]
    assert asyncio.run(streamed(len(big), None)) == []
    assert storage.read_output(task_id, "poster.png") == small
    assert storage.read_output(task_id, "scratch.tmp") is None
    assert storage.stat_output(task_id, "missing.png") is None

    storage.save_input(task_id, "image-0.png", b"input bytes")
    assert storage.read_input(task_id, "image-0.png") == b"input bytes"
    other = new_task_id(Kind.IMAGE)
    storage.save_input(other, "image-0.png", b"only an input")
    assert sorted(storage.task_ids()) == sorted([task_id, other])

    storage.delete_task(task_id)
    assert storage.stat_output(task_id, "poster.png") is None
    assert seaweed.keys(f"{prefix}/tasks/{task_id}") == []
    assert seaweed.keys(f"{prefix}/inputs/{task_id}") == []
    assert list(storage.task_ids()) == [other]
    with pytest.raises(FileNotFoundError):
        storage.read_input(task_id, "image-0.png")


def test_a_first_attempt_stores_its_outputs_without_listing(seaweed, tmp_path, monkeypatch):
    storage = make_storage(seaweed, tmp_path)
    task_id = new_task_id(Kind.IMAGE)
    listed = []
    monkeypatch.setattr(storage, "_keys", lambda prefix: listed.append(prefix) or [])
    storage.commit(task_id, stage(storage, task_id, {"a.png": b"1"}), ["a.png"],
                   first_attempt=True)
    assert listed == []  # no earlier run's outputs to look for
    assert storage.read_output(task_id, "a.png") == b"1"


def test_a_second_attempt_replaces_the_first_attempts_outputs(seaweed, tmp_path):
    storage = make_storage(seaweed, tmp_path)
    task_id = new_task_id(Kind.IMAGE)
    storage.commit(task_id, stage(storage, task_id, {"a.png": b"1", "b.png": b"1"}),
                   ["a.png", "b.png"])
    storage.commit(task_id, stage(storage, task_id, {"a.png": b"2"}), ["a.png"])
    assert seaweed.keys(f"{storage.prefix}/tasks/{task_id}") == [
        f"{storage.prefix}/tasks/{task_id}/a.png"]
    assert storage.read_output(task_id, "a.png") == b"2"


def test_a_failed_upload_leaves_no_objects(seaweed, tmp_path, monkeypatch):
    # This key may write a* names only: the server itself refuses b.png, after a.png went up.
    credentials = LIMITED_S3_KEY["credentials"][0]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["accessKey"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["secretKey"])
    storage = S3Storage(f"s3://{seaweed.bucket}/limited", tmp_path / "staging",
                        endpoint=seaweed.endpoint)
    task_id = new_task_id(Kind.IMAGE)
    staging = stage(storage, task_id, {"a.png": b"first", "b.png": b"refused"})
    with pytest.raises(OSError, match="upload to s3://genmill-test failed"):
        storage.commit(task_id, staging, ["a.png", "b.png"])
    assert seaweed.keys(f"limited/tasks/{task_id}") == []
    assert not staging.exists()


def test_a_wrong_secret_is_refused_by_the_server(seaweed, tmp_path, monkeypatch):
    storage = make_storage(seaweed, tmp_path)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = S3Storage(f"s3://{seaweed.bucket}/{storage.prefix}", tmp_path / "s2",
                      endpoint=seaweed.endpoint)
    with pytest.raises(StorageUnavailable):
        wrong.check()
    with pytest.raises(StorageUnavailable):
        wrong.save_input(new_task_id(Kind.IMAGE), "image-0.png", b"x")
    storage.check()  # the right key passes


@pytest.mark.parametrize("name", ["../secret", "a/b.png", ".hidden", "..", "a\\b",
                                  "x\u2215y.png", ""])
def test_unsafe_names_and_ids_are_refused(seaweed, tmp_path, name):
    storage = make_storage(seaweed, tmp_path)
    task_id = new_task_id(Kind.IMAGE)
    assert storage.stat_output(task_id, name) is None
    assert storage.read_output(task_id, name) is None
    with pytest.raises(ValueError):
        storage.save_input(task_id, name, b"x")
    with pytest.raises(ValueError):
        storage.read_input(task_id, name)
    for bad_id in ("../" + task_id, "image_" + "0" * 31, "tasks"):
        assert storage.stat_output(bad_id, "a.png") is None
        with pytest.raises(ValueError):
            storage.delete_task(bad_id)
    staging = storage.new_staging(task_id)
    (staging / "ok.png").write_bytes(b"x")
    with pytest.raises(ValueError):
        storage.commit(task_id, staging, ["ok.png", name])
    assert seaweed.keys(f"{storage.prefix}/") == []


def test_presigned_urls_are_signed_for_the_object_and_expire(seaweed, tmp_path):
    import httpx

    from tests.seaweed import wait_for

    storage = make_storage(seaweed, tmp_path, delivery="redirect", presign_seconds=1)
    task_id = new_task_id(Kind.IMAGE)
    data = hashlib.sha256(b"x").digest() * 100
    storage.commit(task_id, stage(storage, task_id, {"a.png": data}), ["a.png"])
    file = storage.stat_output(task_id, "a.png")
    url = storage.redirect_url(file)
    assert url.startswith(seaweed.endpoint) and "X-Amz-Signature=" in url
    tampered = url.replace("a.png", "b.png")
    assert httpx.get(tampered).status_code == 403
    # Expiry: the server itself stops honouring the URL once its second is over.
    first = httpx.get(url)
    assert first.status_code in (200, 403)
    if first.status_code == 200:
        assert first.content == data
    wait_for(lambda: httpx.get(url).status_code == 403, timeout=15, interval=0.2)
    fresh = make_storage(seaweed, tmp_path, prefix=storage.prefix, delivery="redirect",
                         presign_seconds=60)
    assert httpx.get(fresh.redirect_url(file)).content == data
    # A download: the store answers with the Content-Disposition the URL was signed for.
    disposition = "attachment; filename=\"a _.png\"; filename*=UTF-8''a%20%C3%A9.png"
    attachment = httpx.get(fresh.redirect_url(file, disposition))
    assert attachment.status_code == 200 and attachment.content == data
    assert attachment.headers["content-disposition"] == disposition
    forged = fresh.redirect_url(file, disposition).replace("filename", "name", 1)
    assert httpx.get(forged).status_code == 403  # the override is covered by the signature


def test_resigned_urls_match_botocores_signature():
    """presign.resign against the reference SigV4 implementation, session token and an
    override included; and credentials other than the URL's are refused (None)."""
    from urllib.parse import parse_qsl, quote, urlsplit

    import boto3
    from botocore.config import Config

    from genmill.storage.presign import resign

    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", aws_access_key_id="AK",
                          aws_secret_access_key="SK", aws_session_token="tok/en+x=",
                          region_name="eu-west-3",
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": "path"}))
    disposition = "attachment; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"
    reference = client.generate_presigned_url(
        "get_object", ExpiresIn=300, Params={"Bucket": "bkt", "Key": "p/tasks/x y.png",
                                             "ResponseContentDisposition": disposition})
    parts = urlsplit(reference)
    params = dict(parse_qsl(parts.query))
    signature = params.pop("X-Amz-Signature")
    params.pop("response-content-disposition")
    plain = parts._replace(query="&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                                          for k, v in params.items())).geturl()
    ours = resign(plain, {"response-content-disposition": disposition}, "AK", "SK")
    assert dict(parse_qsl(urlsplit(ours).query))["X-Amz-Signature"] == signature
    assert dict(parse_qsl(urlsplit(ours).query))["response-content-disposition"] == disposition
    assert resign(plain, {}, "OTHER", "SK") is None and resign(plain, {}, "AK", "") is None


def test_the_storage_url_chooses_the_storage(tmp_path, monkeypatch, seaweed):
    from genmill.components import Components
    from genmill.config import InvalidSettings, settings_from_flags
    from genmill.storage.local import LocalStorage

    monkeypatch.setenv("GENMILL_DATA_DIR", str(tmp_path / "data"))
    for bad in ("ftp://host/x", "s3://", "/just/a/path"):
        monkeypatch.setenv("GENMILL_STORAGE_URL", bad)
        with pytest.raises(InvalidSettings, match="storage_url"):
            settings_from_flags()
    monkeypatch.setenv("GENMILL_STORAGE_URL", f"file://{tmp_path / 'files'}")
    local = Components(settings_from_flags()).storage
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "files"
    monkeypatch.delenv("GENMILL_STORAGE_URL")
    assert Components(settings_from_flags()).storage.root == tmp_path / "data"
    for name, value in seaweed.env("chosen").items():
        monkeypatch.setenv(name, value)
    remote = Components(settings_from_flags()).storage
    assert isinstance(remote, S3Storage) and remote.prefix == "chosen"
    remote.check()
    monkeypatch.setenv("GENMILL_OUTPUT_DELIVERY", "sideways")
    with pytest.raises(InvalidSettings, match="output_delivery"):
        settings_from_flags()
