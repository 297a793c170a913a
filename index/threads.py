"""The OpenMP thread count faiss uses, set explicitly.

faiss parallelizes each call over OpenMP threads; left to its default it takes every core of
the host (not the container's quota), and an asyncio executor calling it from several threads
then oversubscribes the machine. Every build and open sets the count. The setting is
process-wide in faiss: this module is the only place that changes it, and must never be
called per search. It never reads the environment: a process's entry point (a worker, the
``Moderator``, a CLI command) hands it ``Settings.faiss_threads`` (``SWERVE_FAISS_THREADS``)
through ``configure_faiss_threads``.
"""

from __future__ import annotations

import faiss
from swerve.errors import ConfigurationError
from swerve.index.cpu_quota import available_cpus

__all__ = ["configure_faiss_threads", "set_faiss_threads"]

# The count this process asked for (Settings.faiss_threads), or None for the CPU quota. A
# process-wide value, as faiss's own count is.
_configured_threads: int | None = None


def configure_faiss_threads(threads: int | None) -> None:
    """Choose the count every later build and open of this process uses when given none.

    Args:
        threads (`int`, *optional*): ``Settings.faiss_threads``; None means the CPUs this
            process may use (``available_cpus``: its cgroup quota, its affinity).

    Raises:
        ConfigurationError: the count is below 1.
    """
    global _configured_threads
    if threads is not None and threads < 1:
        raise ConfigurationError(f"faiss thread count must be >= 1, got {threads}")
    _configured_threads = threads


def set_faiss_threads(threads: int | None = None) -> int:
    """Set faiss's OpenMP thread count and return it.

    Args:
        threads (`int`, *optional*): the count. Default: the one ``configure_faiss_threads``
            chose, else the CPUs available to this process (``available_cpus``).

    Raises:
        ConfigurationError: the count is not a positive integer.
    """
    if threads is None:
        threads = _configured_threads if _configured_threads is not None else available_cpus()
    if threads < 1:
        raise ConfigurationError(f"faiss thread count must be >= 1, got {threads}")
    faiss.omp_set_num_threads(threads)
    return threads
