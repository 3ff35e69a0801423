"""Idempotent submit in the service, on SQLite and PostgreSQL: concurrent duplicates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from genmill.components import Components
from genmill.config import Settings
from genmill.core.errors import Conflict, InvalidRequest
from genmill.domain import Kind


@pytest.fixture
def parts(database_url, tmp_path):
    parts = Components(Settings(database_url=database_url, data_dir=tmp_path / "data",
                                plugins=["tests.engines"]), pool_size=20)
    parts.database.migrate()
    yield parts
    parts.close()


BODY = {"model": "test/steps-t2i", "prompt": "a lighthouse", "steps": 1}


def test_twenty_concurrent_identical_submits_make_one_task(parts):
    service = parts.service
    with ThreadPoolExecutor(20) as pool:
        tasks = list(pool.map(
            lambda _: service.submit("alice", dict(BODY), Kind.IMAGE, "order-1"), range(20)
        ))
    assert len({t.id for t in tasks}) == 1
    assert service.list("alice", 1, 100)[1] == 1
    # The same key under another API key is another request entirely.
    other = service.submit("bob", dict(BODY), Kind.IMAGE, "order-1")
    assert other.id != tasks[0].id and other.owner == "bob"


def test_same_key_with_another_body_is_a_conflict_naming_the_header(parts):
    service = parts.service
    first = service.submit("alice", dict(BODY), Kind.IMAGE, "k")
    reordered = dict(reversed(list(BODY.items())))
    assert service.submit("alice", reordered, Kind.IMAGE, "k").id == first.id
    with pytest.raises(Conflict) as refused:
        service.submit("alice", {**BODY, "prompt": "another"}, Kind.IMAGE, "k")
    assert refused.value.field == "Idempotency-Key" and refused.value.status == 409
    with pytest.raises(Conflict):  # same body, other endpoint kind
        service.submit("alice", dict(BODY), None, "k")
    assert service.list("alice", 1, 100)[1] == 1


def test_a_bad_key_is_refused_and_no_key_changes_nothing(parts):
    service = parts.service
    for bad in ("", "x" * 256, "with space", "caf\u00e9"):
        with pytest.raises(InvalidRequest) as refused:
            service.submit("alice", dict(BODY), Kind.IMAGE, bad)
        assert refused.value.field == "Idempotency-Key"
    a = service.submit("alice", dict(BODY), Kind.IMAGE)
    b = service.submit("alice", dict(BODY), Kind.IMAGE)
    assert a.id != b.id
