"""Many machines on loopback: 2 API processes (`serve --workers 0`) and 2 worker processes
(`genmill worker`), each with its own empty data directory, sharing only PostgreSQL and an
S3 bucket (SeaweedFS). Tasks submitted through one API are polled, streamed and deleted
through the other; a worker killed mid-task loses it to the other; an API killed while
clients poll leaves the other answering."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import POSTGRES_URL, REPO, LiveServer, _admin, postgres_reachable, wait_final
from tests.seaweed import wait_for

IMAGES = "/v1/images/generations/async"


class Cluster:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.apis = [LiveServer(root / f"api-{n}" / "data", env=env, workers=0)
                     for n in (1, 2)]
        self.workers: list[subprocess.Popen] = []
        self.root, self.env = root, env

    def start(self) -> Cluster:
        for api in self.apis:
            api.data_dir.parent.mkdir(parents=True)
            api.start(wait_ready=False)
        for n in (1, 2):
            data = self.root / f"worker-{n}" / "data"
            data.mkdir(parents=True)
            log = open(self.root / f"worker-{n}.log", "ab")
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "genmill", "worker", "--workers", "1",
                 "--data-dir", str(data)],
                env=self.apis[0].env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
        # Both APIs see both workers: they share nothing but the database.
        for api in self.apis:
            wait_for(lambda api=api: httpx.get(api.url + "/readyz", timeout=10).json()
                     .get("workers") == 2, timeout=120, interval=0.3)
        return self

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
        for api in self.apis:
            try:
                api.stop()
            except Exception:
                pass


@pytest.fixture(scope="module")
def cluster(seaweed, tmp_path_factory):
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    name = f"genmill_nodes_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    database = f"{POSTGRES_URL.rpartition('/')[0]}/{name}"
    env = {**seaweed.env(f"nodes-{secrets.token_hex(3)}"), "GENMILL_DATABASE_URL": database}
    nodes = Cluster(tmp_path_factory.mktemp("nodes"), env)
    nodes.database = database
    try:
        yield nodes.start()
    finally:
        nodes.stop()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_submit_on_one_api_poll_stream_and_delete_on_the_other(cluster, seaweed):
    first, second = (api.client() for api in cluster.apis)
    with first, second:
        task_id = first.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "nodes",
                                           "files": ["clip.bin"], "file_bytes": 300_000}
                             ).json()["task_id"]
        data = wait_final(second, f"{IMAGES}/{task_id}", timeout=90)
        assert data["status"] == "SUCCESS", data
        stored = seaweed.client().get_object(
            Bucket=seaweed.bucket,
            Key=f"{cluster.env['GENMILL_STORAGE_URL'].split('/', 3)[3]}/tasks/{task_id}/clip.bin",
        )["Body"].read()
        part = second.get(f"/api/v1/stream/{task_id}/clip.bin", headers={"Range": "bytes=5-9"})
        assert part.status_code == 206 and part.content == stored[5:10]
        assert first.get(f"/api/v1/download/{task_id}/clip.bin").content == stored
        assert second.delete(f"/api/v1/tasks/{task_id}").status_code == 200
        assert first.get(f"{IMAGES}/{task_id}").status_code == 404
        assert first.get(f"/tasks/{task_id}/clip.bin").status_code == 404
    # No machine kept a file of it: each data dir has only its (empty) staging folder.
    for data_dir in cluster.root.glob("*/data"):
        files = [p for p in data_dir.rglob("*") if p.is_file()
                 and not p.name.startswith("genmill.db")]
        assert files == [], files


def _lease_owner_pid(database: str, task_id: str) -> int | None:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT lease_owner FROM tasks WHERE id = %s", (task_id,)).fetchone()
    return int(row[0].split(":")[1]) if row and row[0] else None


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_worker_killed_mid_task_loses_it_to_the_other(cluster):
    with cluster.apis[0].client() as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "long",
                                            "steps": 40, "step_ms": 100}).json()["task_id"]
        runner = wait_for(lambda: _lease_owner_pid(cluster.database, task_id), timeout=60)
        victim = next(w for w in cluster.workers if w.pid == _parent(runner))
        os.killpg(victim.pid, signal.SIGKILL)  # the whole machine's workers, at once
        victim.wait(10)
        data = wait_final(client, f"{IMAGES}/{task_id}", timeout=120)
        assert data["status"] == "SUCCESS", data
        with psycopg.connect(cluster.database) as conn:
            attempts = conn.execute("SELECT attempts FROM tasks WHERE id = %s",
                                    (task_id,)).fetchone()[0]
        assert attempts == 2  # the killed run, then the survivor's


def test_an_api_killed_while_clients_poll_leaves_the_other_answering(cluster):
    first, second = cluster.apis
    with first.client() as client:
        task_id = client.post(IMAGES, json={"model": "test/steps-t2i", "prompt": "k"}
                              ).json()["task_id"]
    with first.client() as one, second.client() as two:
        for client in (one, two):
            assert client.get(f"{IMAGES}/{task_id}").status_code == 200
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        with pytest.raises(httpx.TransportError):
            one.get(f"{IMAGES}/{task_id}")
        for _ in range(20):
            assert two.get(f"{IMAGES}/{task_id}").status_code == 200
        assert wait_final(two, f"{IMAGES}/{task_id}", timeout=90)["status"] == "SUCCESS"
