"""``SWERVE_FAISS_THREADS`` for the commands that build, open or search a training-image index.

The index never reads the environment; a command hands it ``Settings.faiss_threads`` (unset:
the CPUs this process may use, its container's quota included) before any index is opened.
"""

from __future__ import annotations


def apply_faiss_threads() -> None:
    """Configure faiss's thread count for this process from ``SWERVE_FAISS_THREADS``.

    Raises:
        ConfigurationError: a ``SWERVE_*`` variable is invalid.
    """
    from swerve.index.threads import configure_faiss_threads  # imported late: commands load only what they run
    from swerve.streams.settings import Settings

    configure_faiss_threads(Settings.from_env().faiss_threads)
