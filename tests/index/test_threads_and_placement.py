"""faiss thread count and GPU placement: explicit settings, clean CPU fallback."""

from __future__ import annotations

import threading
import time

import faiss
import pytest
from swerve.errors import ConfigurationError
from swerve.index import available_cpus, configure_faiss_threads, gpu_count, set_faiss_threads
from swerve.index.gpu import resolve_placement
from swerve.index.rw_lock import ReadWriteLock
from swerve.streams.settings import Settings


def test_given_a_count_or_the_settings_when_setting_threads_then_faiss_uses_it() -> None:
    assert set_faiss_threads(1) == 1 and faiss.omp_get_max_threads() == 1
    # The index never reads the environment: an entry point hands it SWERVE_FAISS_THREADS.
    configure_faiss_threads(Settings.from_env({"SWERVE_FAISS_THREADS": "2"}).faiss_threads)
    try:
        assert set_faiss_threads() == 2 and faiss.omp_get_max_threads() == 2
        assert set_faiss_threads(1) == 1, "an explicit count still wins"
        configure_faiss_threads(Settings.from_env({}).faiss_threads)
        assert set_faiss_threads() == available_cpus(), "unset: the CPUs this process may use"
        with pytest.raises(ConfigurationError, match="SWERVE_FAISS_THREADS"):
            Settings.from_env({"SWERVE_FAISS_THREADS": "many"})
        with pytest.raises(ConfigurationError):
            set_faiss_threads(0)
        with pytest.raises(ConfigurationError):
            configure_faiss_threads(0)
    finally:
        configure_faiss_threads(None)
        set_faiss_threads(1)


def test_given_no_gpu_when_placing_then_auto_is_cpu_and_requiring_a_gpu_is_an_error() -> None:
    if gpu_count() > 0:
        pytest.skip("this machine has a GPU visible to faiss")
    assert resolve_placement("auto") is False and resolve_placement("cpu") is False
    with pytest.raises(ConfigurationError, match="needs faiss with GPU support"):
        resolve_placement("gpu")


def test_given_a_reader_holding_the_lock_when_a_writer_waits_then_new_readers_queue_behind_it() -> None:
    lock, order = ReadWriteLock(), []
    reading = threading.Event()

    def first_reader() -> None:
        with lock.read():
            reading.set()
            time.sleep(0.1)
            order.append("reader-1")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("reader-2")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    reading.wait()
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    time.sleep(0.02)
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    for thread in threads:
        thread.join()
    assert order == ["reader-1", "writer", "reader-2"]
