"""Whether the worker's disk has room again after a run met a full one.

A full disk is a passing fault (an operator deletes files, the retention sweep runs), so
a run that met one goes back to the queue and its worker waits for room before it claims
again. Without the wait, a worker on a full disk took task after task and failed each
within milliseconds: a 20 s disk fill under load failed every task claimed meanwhile
(found by bench/chaos.py's disk fault).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOM_BYTES = 64 << 20  # free space that counts as room: 64 MiB ...
ROOM_SHARE = 0.02  # ... or 2% of a smaller disk


def has_room(path: Path) -> bool:
    """True when the filesystem holding `path` has room for a run's outputs again."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return True  # cannot tell: let the next run find out
    free = stats.f_bavail * stats.f_frsize
    return free >= min(ROOM_BYTES, ROOM_SHARE * stats.f_blocks * stats.f_frsize)
