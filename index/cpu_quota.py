"""How many CPUs this process may keep busy: its cgroup CPU quota, its affinity, the machine.

In a container the machine's core count (``os.cpu_count()``) is the host's: a pod limited to 2
CPUs on a 64-core node that starts 64 OpenMP threads is throttled by the kernel for most of
every period. The answer here is the smallest of:

1. the cgroup v2 quota, ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``);
2. else the cgroup v1 quota, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (``-1``: none);
3. the CPUs in ``os.sched_getaffinity(0)`` (``taskset``, cpusets), else ``os.cpu_count()``.

A quota is looked up in the process's own cgroup (``/proc/self/cgroup``) and every ancestor up
to the mount point, because a parent's limit binds its children (a systemd slice, a pod over
its containers); a container with its own cgroup namespace sees its cgroup at the mount point
itself. The quota is rounded down (1.5 CPUs is 1 thread): a pool wider than the quota is what
gets throttled. Never fewer than 1.

Why not a library: loky's ``cpu_count`` (joblib's) does the same arithmetic, but it is a process
pool executor with cloudpickle behind it, reads only the mount point (not a systemd service's
own cgroup), cannot be pointed at other files for tests, and obeys ``LOKY_MAX_CPU_COUNT``, a
knob outside swerve's settings. psutil and threadpoolctl count or set threads but ignore cgroup
quotas. This module only reads files; it never changes a setting.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Callable

__all__ = ["available_cpus", "cgroup_cpu_quota"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

# A cgroup folder -> the quota it sets, in CPUs, or None.
QuotaReader = Callable[[Path], "float | None"]


def available_cpus(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """The CPUs this process may keep busy (module docstring), at least 1.

    Args:
        cgroup_root (`Path`, defaults to ``/sys/fs/cgroup``): where the cgroup filesystem is mounted.
        proc_self_cgroup (`Path`, defaults to ``/proc/self/cgroup``): the process's cgroup membership.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(cgroup_root, proc_self_cgroup)
    if quota is None:
        return max(1, cores)
    return max(1, min(cores, math.floor(quota)))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs, e.g. 1.5) over the process's cgroup and its ancestors,
    cgroup v2 first, then v1; None when there is none (or no cgroup filesystem)."""
    memberships = _memberships(proc_self_cgroup)
    v2 = _tightest(cgroup_root, memberships.get("", "/"), _v2_quota)
    if v2 is not None:
        return v2
    # cgroup v1 mounts the cpu controller on its own (cpu) or with cpuacct (cpu,cpuacct).
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        v1 = _tightest(cgroup_root / folder, memberships.get("cpu", "/"), _v1_quota)
        if v1 is not None:
            return v1
    return None


def _memberships(proc_self_cgroup: Path) -> dict[str, str]:
    """Controller -> cgroup path from ``/proc/self/cgroup`` lines ``id:controllers:path``; the
    v2 hierarchy's controllers are the empty string."""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:  # not Linux, or /proc is not mounted: the quota is looked up at the mount point only
        return {}
    memberships: dict[str, str] = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            memberships[controller] = path
    return memberships


def _tightest(mount: Path, cgroup: str, read: QuotaReader) -> float | None:
    """The smallest quota ``read`` finds in ``mount/cgroup`` and each folder above it up to ``mount``."""
    quotas = []
    relative = PurePosixPath(cgroup.lstrip("/"))
    for folder in (relative, *relative.parents):
        quota = read(mount / folder)
        if quota is not None:
            quotas.append(quota)
    return min(quotas) if quotas else None


def _v2_quota(folder: Path) -> float | None:
    fields = _read(folder / "cpu.max").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(folder: Path) -> float | None:
    return _ratio(_read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us"))


def _ratio(quota_us: str, period_us: str) -> float | None:
    """quota / period in CPUs; None for no limit (-1, "max") or anything unreadable."""
    try:
        quota, period = int(quota_us), int(period_us)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read(file: Path) -> str:
    """The stripped text of ``file``, or "" when it is absent or unreadable (no limit there)."""
    try:
        return file.read_text().strip()
    except OSError:
        return ""
