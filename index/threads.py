"""The OpenMP thread count faiss uses, set explicitly.

faiss parallelizes each call over OpenMP threads; left to its default it takes every core,
and an asyncio executor calling it from several threads then oversubscribes the machine.
Every build and open sets the count. The setting is process-wide in faiss: this module is
the only place that changes it, and must never be called per search.
"""

from __future__ import annotations

import os

import faiss
from swerve.errors import ConfigurationError

__all__ = ["THREADS_ENV", "available_cores", "set_faiss_threads"]

#: Environment variable read when no thread count is passed.
THREADS_ENV = "SWERVE_FAISS_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_faiss_threads(threads: int | None = None) -> int:
    """Set faiss's OpenMP thread count and return it.

    Args:
        threads (`int`, *optional*): the count. Default: ``$SWERVE_FAISS_THREADS``, else the
            cores available to this process.

    Raises:
        ConfigurationError: the count, or the environment variable, is not a positive integer.
    """
    if threads is None:
        raw = os.environ.get(THREADS_ENV)
        if raw is None:
            threads = available_cores()
        elif raw.strip().isdigit():
            threads = int(raw)
        else:
            raise ConfigurationError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    if threads < 1:
        raise ConfigurationError(f"faiss thread count must be >= 1, got {threads}")
    faiss.omp_set_num_threads(threads)
    return threads
