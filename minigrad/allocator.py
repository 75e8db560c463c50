"""Keep freed host memory for reuse, so that training does not page-fault on every step.

Why: a training step allocates the same large temporaries again and again (activations in the
forward pass, their gradients in the backward pass) and frees them in between. glibc's malloc
hands big blocks back to the operating system as soon as the top of its heap is free (and
serves blocks over its mmap threshold straight from the OS), so the next step gets fresh pages
and the kernel zero-fills each one on first touch: ~200,000 page faults per 50 small "steps"
of 1.5 MB arrays, and about a fifth of a GPT training step on the CPU. PyTorch's CPU ops make
fewer temporaries; minigrad's numpy ops make one per elementwise operation, so it matters here.

`tune()` raises glibc's trim threshold (freed memory stays in the process for the next step)
and pins the mmap threshold at its largest value (arrays up to 32 MB come from the reusable
heap). The peak resident memory is unchanged; what changes is that the process keeps its peak
until it exits, as PyTorch's caching allocator does on a GPU.

It runs when minigrad is imported, on Linux with glibc only; `MINIGRAD_MALLOC=default` leaves
malloc alone. The settings are the same as running Python with MALLOC_TRIM_THRESHOLD_ and
MALLOC_MMAP_THRESHOLD_ set, and apply to the whole process (numpy and torch alike).
"""
from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit: blocks up to 32 MiB come from the heap

tuned = False


def tune() -> bool:
    """Apply the settings above; True when they took effect (glibc), False otherwise."""
    global tuned
    if os.environ.get("MINIGRAD_MALLOC", "") == "default" or platform.system() != "Linux":
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc adjusting it
    tuned = bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return tuned
