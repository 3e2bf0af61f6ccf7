"""How many workers `dpo web` starts: WEB_CONCURRENCY, or one per core the process may use.

The cores a process may use are the fewest of: the CPUs it may be scheduled on
(`os.sched_getaffinity`, which `taskset` and cpusets narrow) and its cgroup's CPU quota
(cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up: a container
limited to 1.5 CPUs on a 64-core host gets 2 workers, not 64. `os.cpu_count()` counts the
host's cores and would start dozens of workers, each with its own pools, in a small container.
The default stops at DEFAULT_MAX_WORKERS: every worker holds its own PostgreSQL pool (up to
20 connections) and ~150 MB of memory; more is WEB_CONCURRENCY's to ask for.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

DEFAULT_MAX_WORKERS = 8
CGROUP = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP) -> float | None:
    """The CPUs this process's cgroup may use per period, or None when it has no quota."""
    try:
        quota, _, period = (root / "cpu.max").read_text().partition(" ")
        if quota.strip() == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cores(root: Path = CGROUP) -> int:
    """The cores this process may run on at once (affinity and cgroup quota), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def worker_count(web_concurrency: int | None, root: Path = CGROUP) -> int:
    """WEB_CONCURRENCY when set, else the available cores up to DEFAULT_MAX_WORKERS."""
    if web_concurrency is not None:
        return web_concurrency
    return min(available_cores(root), DEFAULT_MAX_WORKERS)
