"""How many workers `dpo web` starts by default (app.server.cores), on planted cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.server.cores import (
    DEFAULT_MAX_WORKERS,
    available_cores,
    cgroup_cpu_quota,
    worker_count,
)

AFFINITY = len(os.sched_getaffinity(0))


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({}, None),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "garbage\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
    ],
)
def test_the_cgroup_quota_v2_and_v1(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    assert cgroup_cpu_quota(plant(tmp_path, files)) == quota


def test_a_quota_bounds_the_cores_rounded_up(tmp_path: Path) -> None:
    assert available_cores(plant(tmp_path, {"cpu.max": "50000 100000"})) == 1
    assert available_cores(plant(tmp_path, {"cpu.max": "150000 100000"})) == min(AFFINITY, 2)
    assert available_cores(plant(tmp_path, {"cpu.max": "max 100000"})) == AFFINITY


def test_the_affinity_bounds_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2})
    assert available_cores(tmp_path) == 3
    assert available_cores(plant(tmp_path, {"cpu.max": "800000 100000"})) == 3


def test_web_concurrency_wins_and_the_default_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)))
    assert worker_count(None, tmp_path) == DEFAULT_MAX_WORKERS
    assert worker_count(1, tmp_path) == 1
    assert worker_count(12, tmp_path) == 12
    assert worker_count(None, plant(tmp_path, {"cpu.max": "200000 100000"})) == 2
