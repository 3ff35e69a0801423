"""Handing freed memory back to the OS after a big transient allocation.

Drawing a 1080p title card or backdrop briefly takes a few hundred MB of float arrays.
glibc keeps freed heap memory in its per-thread arenas, so without a trim the worker's
RSS would stay at that peak for the rest of the render, on top of the encoders' buffers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libc():  # type: ignore[no-untyped-def]
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release() -> None:
    """Return free heap pages to the OS (glibc); a no-op elsewhere."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)



_M_MMAP_THRESHOLD = -3


@cache
def map_large_blocks(threshold: int = 1 << 20) -> None:
    """Serve allocations over `threshold` bytes with their own mappings, returned to the OS
    on free. Frame planes (1-2 MB each) are made on one thread and freed on another; by
    default glibc raises its mmap threshold after the first such free and then carves them
    from the heap, where they fragment and stay resident."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)
