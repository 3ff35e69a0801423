"""Parsing `Prefer: wait` (RFC 7240)."""

from genmill.api.prefer import MAX_WAIT, preferred_wait


def test_wait_preferences():
    assert preferred_wait([]) is None
    assert preferred_wait(["respond-async"]) is None
    assert preferred_wait(["wait"]) == MAX_WAIT
    assert preferred_wait(["wait=10"]) == 10
    assert preferred_wait(["respond-async, wait=5"]) == 5
    assert preferred_wait(["return=minimal", 'wait="7"']) == 7
    assert preferred_wait(["wait=600"]) == MAX_WAIT
    assert preferred_wait(["wait=0"]) is None and preferred_wait(["wait=soon"]) is None
