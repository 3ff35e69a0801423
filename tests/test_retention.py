"""Retention: the sweeper removes old outputs (then old rows) in batches, one machine at a
time by a database lease; file routes then answer 410 while statuses stay readable."""

from __future__ import annotations

import time

import httpx
import pytest

from genmill.config import InvalidSettings, parse_duration, settings_from_flags
from genmill.core.retention import RetentionSweeper
from genmill.domain import Kind, Status, Task, new_task_id
from genmill.storage.local import LocalStorage
from genmill.store import leases
from genmill.store.connector import Database
from genmill.store.tasks import TaskStore
from tests.conftest import wait_final
from tests.seaweed import wait_for

HOUR = 3600.0


@pytest.fixture
def parts(database_url, tmp_path):
    db = Database(database_url)
    db.migrate()
    yield db, TaskStore(db), LocalStorage(tmp_path / "files")
    db.dispose()


def finished_task(store: TaskStore, storage: LocalStorage, age: float,
                  status: Status = Status.SUCCESS, owner: str = "alice") -> str:
    """A task that ended `age` seconds ago, with an output and an input on disk."""
    now = time.time()
    task = Task(id=new_task_id(Kind.IMAGE), kind=Kind.IMAGE, action="imageGenerate",
                model="test/steps-t2i", owner=owner, status=status, params={},
                outputs=["image-1.png"] if status == Status.SUCCESS else [],
                submit_time=now - age - 5, start_time=now - age - 4, finish_time=now - age,
                max_attempts=1, time_limit=30)
    staging = storage.new_staging(task.id)
    (staging / "image-1.png").write_bytes(b"png")
    storage.commit(task.id, staging, ["image-1.png"])
    storage.save_input(task.id, "image-0.png", b"input")
    store.insert(task)
    return task.id


def test_durations_parse_and_bad_ones_are_refused(monkeypatch):
    assert parse_duration("7d") == 7 * 86400 and parse_duration("24h") == 86400
    assert parse_duration("90m") == 5400 and parse_duration("30") == 30
    assert parse_duration("1.5h") == 5400 and parse_duration("") == 0
    monkeypatch.setenv("GENMILL_RETENTION", "7d")
    monkeypatch.setenv("GENMILL_RETENTION_TASKS", "30d")
    settings = settings_from_flags()
    assert (settings.retention, settings.retention_tasks) == (7 * 86400, 30 * 86400)
    for bad in ("seven days", "-1d", "7y"):
        monkeypatch.setenv("GENMILL_RETENTION", bad)
        with pytest.raises(InvalidSettings, match="duration"):
            settings_from_flags()


def test_a_lease_has_one_holder_until_it_expires_or_is_released(database_url):
    db = Database(database_url)
    db.migrate()
    try:
        assert leases.hold(db, "sweep", "machine-a", 30)
        assert not leases.hold(db, "sweep", "machine-b", 30)
        assert leases.hold(db, "sweep", "machine-a", 30)  # renewing is fine
        assert leases.hold(db, "other", "machine-b", 30)  # names are independent
        leases.release(db, "sweep", "machine-b")  # not b's: no effect
        assert not leases.hold(db, "sweep", "machine-b", 30)
        leases.release(db, "sweep", "machine-a")
        assert leases.hold(db, "sweep", "machine-b", 0.2)
        # b stops renewing (dies): once its lease runs out, a takes over.
        wait_for(lambda: leases.hold(db, "sweep", "machine-a", 30), timeout=10)
        assert not leases.hold(db, "sweep", "machine-b", 30)
    finally:
        db.dispose()


def test_old_outputs_go_in_batches_and_statuses_stay(parts):
    db, store, storage = parts
    old = [finished_task(store, storage, age=2 * HOUR) for _ in range(5)]
    failed = finished_task(store, storage, age=2 * HOUR, status=Status.FAILURE)
    recent = finished_task(store, storage, age=60)
    running = new_task_id(Kind.IMAGE)  # files of a task with no row yet: left alone
    storage.save_input(running, "image-0.png", b"being submitted")

    swept = RetentionSweeper(db, storage, files_after=HOUR, batch=2).sweep_once()
    assert swept.files == 6 and swept.rows == 0
    for task_id in [*old, failed]:
        assert storage.stat_output(task_id, "image-1.png") is None
        with pytest.raises(FileNotFoundError):
            storage.read_input(task_id, "image-0.png")
        assert store.get_status(task_id) is not None  # the row stays
    assert storage.stat_output(recent, "image-1.png") is not None
    assert storage.read_input(running, "image-0.png") == b"being submitted"
    assert sorted(storage.task_ids()) == sorted([recent, running])
    assert store.list("alice", 0, 100)[1] == 7


def test_old_rows_go_with_their_files_and_totals_stay_exact(parts):
    db, store, storage = parts
    old = [finished_task(store, storage, age=50 * HOUR) for _ in range(3)]
    middle = finished_task(store, storage, age=5 * HOUR)
    fresh = finished_task(store, storage, age=60, owner="bob")

    sweeper = RetentionSweeper(db, storage, files_after=HOUR, rows_after=24 * HOUR, batch=2)
    swept = sweeper.sweep_once()
    assert swept.rows == 3 and swept.files == 4
    for task_id in old:
        assert store.get(task_id) is None
    tasks, total = store.list("alice", 0, 100)
    assert [t.id for t in tasks] == [middle] and total == 1
    assert store.get_status(middle).status == Status.SUCCESS
    assert storage.stat_output(middle, "image-1.png") is None
    assert store.list("bob", 0, 100)[1] == 1
    assert storage.stat_output(fresh, "image-1.png") is not None
    assert sweeper.sweep_once() is not None  # a second sweep finds nothing more to do


def test_a_key_may_keep_its_files_longer_or_shorter(parts, monkeypatch):
    db, store, storage = parts
    alice = finished_task(store, storage, age=2 * HOUR, owner="alice")
    bob = finished_task(store, storage, age=2 * HOUR, owner="bob")
    carol = finished_task(store, storage, age=20 * 60, owner="carol")
    dave = finished_task(store, storage, age=1000 * HOUR, owner="dave")
    monkeypatch.setenv("GENMILL_RETENTION_KEYS", "bob:1d, carol:10m, dave:0")
    by_owner = settings_from_flags().retention_keys
    assert by_owner == {"bob": 86400, "carol": 600, "dave": 0}
    swept = RetentionSweeper(db, storage, files_after=HOUR,
                             files_after_by_owner=by_owner).sweep_once()
    assert swept.files == 2
    assert storage.stat_output(alice, "image-1.png") is None  # the default: 1 h
    assert storage.stat_output(carol, "image-1.png") is None  # her own: 10 min
    assert storage.stat_output(bob, "image-1.png") is not None  # his own: a day
    assert storage.stat_output(dave, "image-1.png") is not None  # kept forever
    monkeypatch.setenv("GENMILL_RETENTION_KEYS", "nobody")
    with pytest.raises(InvalidSettings, match="name:7d"):
        settings_from_flags()


def test_one_machine_sweeps_at_a_time(parts):
    db, store, storage = parts
    task_id = finished_task(store, storage, age=2 * HOUR)
    first = RetentionSweeper(db, storage, files_after=HOUR)
    second = RetentionSweeper(db, storage, files_after=HOUR)
    assert leases.hold(db, "retention", first.holder, 30)  # first is mid-sweep
    assert second.sweep_once() is None
    assert storage.stat_output(task_id, "image-1.png") is not None
    leases.release(db, "retention", first.holder)
    assert second.sweep_once().files == 1


def test_retention_is_off_by_default(parts):
    db, store, storage = parts
    task_id = finished_task(store, storage, age=1000 * HOUR)
    assert RetentionSweeper(db, storage).sweep_once() is None
    assert storage.stat_output(task_id, "image-1.png") is not None


def test_a_live_server_expires_outputs_with_410(make_server, postgres_url):
    server = make_server(env={"GENMILL_RETENTION": "1s", "GENMILL_RETENTION_SWEEP_SECONDS": "0.2",
                              "GENMILL_DATABASE_URL": postgres_url}, workers=1).start()
    images = "/v1/images/generations/async"
    with server.client() as client:
        task_id = client.post(images, json={"model": "test/steps-t2i", "prompt": "x"}
                              ).json()["task_id"]
        data = wait_final(client, f"{images}/{task_id}")
        assert data["status"] == "SUCCESS"
        url = data["outputs"][0]
        name = url.rsplit("/", 1)[-1]
        expired = wait_for(lambda: (r := httpx.get(url)).status_code == 410 and r, timeout=30)
        assert "output expired" in expired.json()["message"]
        assert expired.json()["code"] == "output_expired"
        local = client.get(f"/api/v1/stream/{task_id}/{name}")
        assert local.status_code == 410 and local.json()["status"] == 410
        again = client.get(f"{images}/{task_id}").json()["data"]
        assert again["status"] == "SUCCESS" and again["outputs"] == data["outputs"]
        assert httpx.get(url.replace(name, "other.png")).status_code == 404
