"""Worker pools: GPU workers take only GPU models, CPU workers the rest (real stores)."""

from __future__ import annotations

import dataclasses

import pytest

from genmill.config import Settings
from genmill.engines.registry import Registry, build_registry
from genmill.store.connector import Database
from genmill.store.tasks import TaskStore
from genmill.worker import pools
from tests.test_store import make_task


@pytest.fixture
def store(database_url):
    db = Database(database_url)
    db.migrate()
    yield TaskStore(db)
    db.dispose()


def test_claim_takes_only_the_pools_models(store):
    cpu, gpu, cpu2 = make_task(), make_task(), make_task()
    gpu = dataclasses.replace(gpu, model="tiny/sd")
    for task in (cpu, gpu, cpu2):
        store.insert(task)
    assert store.claim("gpu-worker", 30, ["tiny/sd"]).id == gpu.id
    assert store.claim("gpu-worker", 30, ["tiny/sd"]) is None
    assert store.claim("cpu-worker", 30, ["test/steps-t2i"]).id == cpu.id
    assert store.claim("idle", 30, []) is None  # an empty pool takes nothing
    assert store.claim("any", 30).id == cpu2.id


def registry_with_a_gpu_model() -> Registry:
    registry = build_registry()
    title = registry.resolve("genmill/title-card-t2i")
    registry.register(dataclasses.replace(title, id="tiny/gpu-model", device="gpu"))
    return registry


def test_pools_split_the_models_and_pin_gpu_workers(monkeypatch):
    registry = registry_with_a_gpu_model()
    settings = Settings(workers=2, gpus=[0, 1])
    slots, labels = pools.worker_settings(settings, pools.gpu_indexes(settings, registry))
    assert labels == ["cpu", "cpu", "cuda:0", "cuda:1"]
    cpu_models = pools.claimable_models(slots[0], registry)
    assert "genmill/title-card-t2i" in cpu_models and "tiny/gpu-model" not in cpu_models
    assert pools.claimable_models(slots[3], registry) == ["tiny/gpu-model"]

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pools.pin_to_gpu(slots[3])
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


def test_without_gpu_workers_cpu_workers_serve_every_model():
    registry = registry_with_a_gpu_model()
    settings = Settings(workers=2, gpus=[])
    slots, labels = pools.worker_settings(settings, pools.gpu_indexes(settings, registry))
    assert labels == ["cpu", "cpu"]
    assert pools.claimable_models(slots[0], registry) is None
    # No model wants a GPU: no GPU workers even where GPUs are listed.
    plain = Settings(workers=1, gpus=[0])
    assert pools.gpu_indexes(plain, build_registry()) == []


def test_a_model_pinned_to_cuda_n_goes_only_to_that_gpus_worker():
    registry = registry_with_a_gpu_model()
    title = registry.resolve("genmill/title-card-t2i")
    registry.register(dataclasses.replace(title, id="tiny/on-gpu-1", device="cuda:1"))
    settings = Settings(workers=1, gpus=[0, 1])
    slots, labels = pools.worker_settings(settings, pools.gpu_indexes(settings, registry))
    assert labels == ["cpu", "cuda:0", "cuda:1"]
    assert pools.claimable_models(slots[1], registry) == ["tiny/gpu-model"]
    assert pools.claimable_models(slots[2], registry) == ["tiny/gpu-model", "tiny/on-gpu-1"]
    assert "tiny/on-gpu-1" not in pools.claimable_models(slots[0], registry)
    assert [pools.device_label(s) for s in slots] == labels
    assert pools.unserved_models(registry, [0, 1]) == []
    assert pools.unserved_models(registry, [0]) == ["tiny/on-gpu-1 (device cuda:1)"]
    assert pools.unserved_models(registry, []) == []  # CPU workers take every model then
