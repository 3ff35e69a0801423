"""The relay runner's queries on SQLite and PostgreSQL: upstream ids, one-statement lease
renewals and progress writes for many tasks, and the pools that keep relays off workers."""

from __future__ import annotations

from genmill.config import Settings
from genmill.domain import Mode, Status
from genmill.engines.base import ModelSpec
from genmill.engines.params import ImageParams
from genmill.engines.registry import Registry
from genmill.store import relays
from genmill.worker import pools
from tests.test_store import make_task, store  # noqa: F401  (the fixture)


def test_upstream_ids_are_kept_until_their_task_ends(store):  # noqa: F811
    waiting, ended, other = make_task(), make_task(), make_task()
    for task in (waiting, ended, other):
        store.insert(task)
    assert relays.upstream_ids(store.db, [waiting.id]) == {}
    relays.record(store.db, waiting.id, "image_abc")
    relays.record(store.db, ended.id, "image_def")
    relays.record(store.db, "image_deleted-task", "image_ghi")
    relays.record(store.db, waiting.id, "image_abd")  # a second record replaces the first
    assert relays.upstream_ids(store.db, [waiting.id, ended.id, other.id]) == {
        waiting.id: "image_abd", ended.id: "image_def"}
    store.claim("relay-1", 30)
    store.claim("relay-1", 30)
    store.finish(ended.id, "relay-1", Status.SUCCESS, outputs=[])
    assert relays.sweep(store.db) == 2  # the ended task's and the deleted task's
    assert relays.upstream_ids(store.db, [waiting.id, ended.id]) == {waiting.id: "image_abd"}


def test_a_burst_is_claimed_in_one_statement_in_queue_order(store):  # noqa: F811
    queued = [make_task() for _ in range(5)]
    for task in queued:
        store.insert(task)
    first = store.claim_many("relay-1", 30, [queued[0].model], 3)
    assert [task.id for task in first] == [task.id for task in queued[:3]]
    assert all(task.status == Status.IN_PROGRESS and task.lease_owner == "relay-1"
               for task in first)
    rest = store.claim_many("relay-2", 30, [queued[0].model], 10)
    assert [task.id for task in rest] == [task.id for task in queued[3:]]
    assert store.claim_many("relay-1", 30, ["other/model"], 10) == []
    assert store.claim_many("relay-1", 30, [queued[0].model], 10) == []


def test_held_reads_the_leases_and_cancels_of_one_worker(store):  # noqa: F811
    mine, canceled, other = make_task(), make_task(), make_task()
    for task in (mine, canceled, other):
        store.insert(task)
    store.claim_many("relay-1", 30, [mine.model], 2)
    store.claim("worker-2", 30)
    store.cancel(canceled.id)
    assert store.held("relay-1") == {mine.id: False, canceled.id: True}
    store.finish(mine.id, "relay-1", Status.SUCCESS, outputs=[])
    assert store.held("relay-1") == {canceled.id: True}


def test_renew_many_and_progress_many_touch_only_held_tasks(store):  # noqa: F811
    mine, other, done = make_task(), make_task(), make_task()
    for task in (mine, other, done):
        store.insert(task)
    assert store.claim("relay-1", 30).id == mine.id
    assert store.claim("worker-2", 30).id == other.id
    store.cancel(mine.id)
    states = store.renew_many([mine.id, other.id, "image_gone"], "relay-1", 30)
    assert states[mine.id].held and states[mine.id].cancel_requested
    assert not states[other.id].held and not states["image_gone"].held
    store.set_progress_many({mine.id: 40, other.id: 50}, "relay-1")
    store.set_progress_many({mine.id: 30}, "relay-1")  # never backwards
    assert store.get(mine.id).progress == 40 and store.get(other.id).progress == 0


def test_relay_models_are_left_to_the_relay_runner():
    registry = Registry()
    for model_id, device in (("a/cpu", "cpu"), ("a/relay", "relay"), ("a/gpu", "gpu")):
        registry.register(ModelSpec(model_id, Mode.TEXT_TO_IMAGE, ImageParams, object,
                                    device=device))
    cpu_only = Settings(gpus=[])
    assert pools.claimable_models(cpu_only, registry) == ["a/cpu", "a/gpu"]
    with_gpu = Settings(gpus=[0])
    assert pools.claimable_models(with_gpu, registry) == ["a/cpu"]
    assert pools.claimable_models(with_gpu.model_copy(update={"worker_gpu": 0}),
                                  registry) == ["a/gpu"]
    assert pools.relay_models(registry) == ["a/relay"]
    relays_only = Registry()
    relays_only.register(ModelSpec("b/relay", Mode.TEXT_TO_IMAGE, ImageParams, object,
                                   device="relay"))
    assert pools.gpu_indexes(Settings(gpus=None), relays_only) == []  # no GPU worker for it
