"""Keep freed memory inside the process (Linux, glibc).

A matching step on the CPU allocates and frees hundreds of tensors of tens of megabytes. glibc
serves each one above 32 MB with a fresh ``mmap`` and returns it on ``free``, so every step
page-faults its whole working set in again: on the 2-core benchmark machine that system time was
40 % of a step. Serving large blocks from the heap and not trimming it keeps them mapped and
reused. The process's peak memory is unchanged; it is only not returned to the system early.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_done = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse (idempotent). Returns whether it applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _done
