"""What a benchmark's processes cost: CPU seconds of a process tree, and RSS over time."""

from __future__ import annotations

import contextlib
import threading
import time

import psutil


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process, its reaped children (PostgreSQL backends) and live ones."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0
    return total


class RssSampler(threading.Thread):
    """Samples this process's RSS every `every` seconds."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        process = psutil.Process()
        while not self.halt.is_set():
            self.samples.append((time.monotonic() - self.start_time, process.memory_info().rss))
            self.halt.wait(self.every)
