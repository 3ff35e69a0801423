"""The worker-side pipeline cache: one load per weights, shared by entries, idle unload."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("diffusers", reason="needs the diffusers extra")

from genmill.domain import Mode  # noqa: E402
from genmill.engines.diffusers.entry import DiffusersEntry  # noqa: E402
from genmill.engines.diffusers.pipelines import PipelineCache  # noqa: E402
from tests import tiny_pipelines  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_pipelines.save(tiny_pipelines.stable_diffusion(),
                               tmp_path_factory.mktemp("w") / "tiny-sd")


def entry(folder, model_id: str, mode: Mode) -> DiffusersEntry:
    return DiffusersEntry(id=model_id, engine="diffusers", mode=mode, source=str(folder),
                          device="cpu")


def test_entries_of_one_source_share_a_load_and_idle_pipelines_unload(folder):
    cache = PipelineCache(idle_seconds=0.5)
    t2i, i2i = entry(folder, "t/a", Mode.TEXT_TO_IMAGE), entry(folder, "t/b", Mode.IMAGE_TO_IMAGE)
    with cache.use(t2i) as text_pipe:
        assert type(text_pipe).__name__ == "StableDiffusionPipeline"
        with cache.use(i2i) as image_pipe:
            assert type(image_pipe).__name__ == "StableDiffusionImg2ImgPipeline"
            assert image_pipe.unet is text_pipe.unet  # the same modules, not a copy
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # in use: never unloaded, however long
            assert cache.loaded() == [str(folder.resolve())]
            time.sleep(0.1)
    assert cache.loads == 1

    deadline = time.monotonic() + 30
    while cache.loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.loaded() == []
    with cache.use(t2i):
        pass
    assert cache.loads == 2  # loaded again after the unload
