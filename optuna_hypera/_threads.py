"""Thread limits while the sampler computes: torch's intra-op threads and the BLAS threads
that numpy and scipy use, set for the duration of a call and restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import threading
from typing import Any

import torch


_torch_lock = threading.RLock()
"""Serializes the sampler's calls across threads; re-entrant, so a call made inside another
(a sampler used inside code that already limits its threads) does not wait on itself."""
_blas: list[Any] = []


def _blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries numpy and scipy loaded (built once)."""
    if not _blas:
        import scipy.linalg  # noqa: F401  (loads scipy's BLAS before the controller looks)
        from threadpoolctl import ThreadpoolController

        _blas.append(ThreadpoolController())
    return _blas[0]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads for the sampler's small networks and ``n`` BLAS threads for
    the surrogate's small matrices, then restore the user's settings: on a busy machine,
    multi-threaded BLAS on 100x100 matrices is many times slower than one thread."""
    if n is None:
        yield
        return
    with _torch_lock:
        previous = torch.get_num_threads()
        if previous != n:
            torch.set_num_threads(n)
        try:
            with _blas_controller().limit(limits=n, user_api="blas"):
                yield
        finally:
            if previous != n:
                torch.set_num_threads(previous)
