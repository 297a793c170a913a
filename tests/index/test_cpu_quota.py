"""available_cpus: the container's CPU quota (cgroup v2, then v1), then the affinity, never the host's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from swerve.index.cpu_quota import available_cpus, cgroup_cpu_quota

V2_SELF = "0::/\n"
V1_SELF = "12:cpu,cpuacct:/\n11:memory:/\n"


@pytest.fixture
def cores(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 64-core host, as a process not pinned to fewer cores sees it."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    return 64


def cgroup(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake cgroup mount under tmp_path with ``files`` (relative paths) and a /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(membership)
    return root, proc


def test_given_a_cgroup_v2_quota_of_two_cpus_then_two_on_a_64_core_host(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, V2_SELF, {"cpu.max": "200000 100000\n"})
    assert cgroup_cpu_quota(root, proc) == 2.0
    assert available_cpus(root, proc) == 2


def test_given_a_fractional_quota_then_rounded_down_but_never_below_one(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, V2_SELF, {"cpu.max": "150000 100000"})
    assert available_cpus(root, proc) == 1
    root, proc = cgroup(tmp_path / "small", V2_SELF, {"cpu.max": "20000 100000"})
    assert available_cpus(root, proc) == 1


def test_given_cgroup_v2_without_a_limit_then_the_affinity(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, V2_SELF, {"cpu.max": "max 100000"})
    assert cgroup_cpu_quota(root, proc) is None
    assert available_cpus(root, proc) == cores


def test_given_a_systemd_service_cgroup_then_its_own_and_its_parents_quota_bind(tmp_path: Path, cores: int) -> None:
    # Given the process in /system.slice/swerve.service (no cgroup namespace), with a looser slice above it
    root, proc = cgroup(tmp_path, "0::/system.slice/swerve.service\n", {
        "system.slice/cpu.max": "800000 100000",
        "system.slice/swerve.service/cpu.max": "300000 100000",
    })
    assert available_cpus(root, proc) == 3
    # When the slice is the tighter one, then it wins
    (root / "system.slice/cpu.max").write_text("100000 100000")
    assert available_cpus(root, proc) == 1


def test_given_cgroup_v1_quota_then_quota_over_period(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, V1_SELF, {"cpu,cpuacct/cpu.cfs_quota_us": "400000\n",
                                            "cpu,cpuacct/cpu.cfs_period_us": "100000\n"})
    assert available_cpus(root, proc) == 4


def test_given_cgroup_v1_without_a_quota_then_the_affinity(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, "4:cpu:/docker/abc\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    assert available_cpus(root, proc) == cores


def test_given_a_v1_container_that_sees_its_cgroup_at_the_mount_point_then_its_quota_counts(tmp_path: Path, cores: int) -> None:
    # /proc/self/cgroup names the host's path, which does not exist inside the container's mount
    root, proc = cgroup(tmp_path, "4:cpu:/docker/abc\n", {"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"})
    assert available_cpus(root, proc) == 2


def test_given_an_affinity_narrower_than_the_quota_then_the_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    root, proc = cgroup(tmp_path, V2_SELF, {"cpu.max": "800000 100000"})
    assert available_cpus(root, proc) == 2


def test_given_no_cgroup_filesystem_then_the_affinity(tmp_path: Path, cores: int) -> None:
    assert cgroup_cpu_quota(tmp_path / "absent", tmp_path / "absent-proc") is None
    assert available_cpus(tmp_path / "absent", tmp_path / "absent-proc") == cores


def test_given_garbage_in_the_files_then_no_limit_rather_than_a_crash(tmp_path: Path, cores: int) -> None:
    root, proc = cgroup(tmp_path, "garbage\n0::/\n", {"cpu.max": "lots of cpus", "cpu/cpu.cfs_quota_us": "x"})
    assert available_cpus(root, proc) == cores
