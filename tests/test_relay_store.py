"""The relay runner's queries on SQLite and PostgreSQL: upstream ids, one-statement lease
renewals and progress writes for many tasks, and the pools that keep relays off workers."""

from __future__ import annotations

from genmill.config import Settings
from genmill.domain import Mode
from genmill.engines.base import ModelSpec
from genmill.engines.params import ImageParams
from genmill.engines.registry import Registry
from genmill.store import relays
from genmill.worker import pools
from tests.test_store import make_task, store  # noqa: F401  (the fixture)


def test_upstream_ids_are_kept_until_forgotten(store):  # noqa: F811
    task = make_task()
    assert relays.upstream_id(store.db, task.id) is None
    relays.record(store.db, task.id, "image_abc")
    assert relays.upstream_id(store.db, task.id) == "image_abc"
    relays.forget(store.db, task.id)
    assert relays.upstream_id(store.db, task.id) is None


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
