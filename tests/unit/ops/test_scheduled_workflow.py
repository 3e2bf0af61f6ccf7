""".github/workflows/scheduled-tasks.yml: each schedule runs its job, through `railway run`,
at the runbook's interval, within the 5-minute rule (GitHub's as well as Railway's)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from jobs.schedule import RUNBOOK
from tests.support.cron_rules import interval_minutes, railway_problems

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "scheduled-tasks.yml"
JOBS = {"sync_fx_rates", "sync_csd", "reconcile_positions"}
# Outside Railway, so by the databases' public URLs (dpo/railway_urls.py).
RAILWAY_RUN = ["railway", "run", "--service", "web", "python", "manage.py", "--public-urls"]


def workflow() -> dict[Any, Any]:
    """The parsed workflow (PyYAML reads the `on:` key as True, YAML 1.1's boolean)."""
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def schedules() -> list[str]:
    """The workflow's cron expressions."""
    triggers = workflow()[True]
    return [entry["cron"] for entry in triggers["schedule"]]


def commands() -> dict[str, tuple[str, list[list[str]]]]:
    """Per workflow job: its `if:` condition and its `railway run` command lines."""
    found = {}
    for name, job in workflow()["jobs"].items():
        lines = [
            shlex.split(line)
            for step in job["steps"]
            if "run" in step
            for line in step["run"].splitlines()
            if line.startswith("railway ")
        ]
        found[name] = (job["if"], lines)
    return found


def test_schedules_are_valid_and_within_the_rules() -> None:
    assert len(schedules()) == 3
    for expression in schedules():
        assert railway_problems(expression) == []


def test_each_schedule_runs_its_own_job_at_the_runbook_interval() -> None:
    intervals = {entry.job: entry.seconds // 60 for entry in RUNBOOK if not entry.full}
    seen = set()
    for condition, lines in commands().values():
        (expression,) = re.findall(r"github\.event\.schedule == '([^']+)'", condition)
        (manual,) = re.findall(r"inputs\.job == '([a-z_]+)'", condition)
        (line,) = lines
        assert line[:-1] == RAILWAY_RUN, line
        job = line[-1]
        assert job == manual
        assert expression in schedules()
        assert interval_minutes(expression) == intervals[job], (job, expression)
        seen.add(job)
    assert seen == JOBS
    dispatch = workflow()[True]["workflow_dispatch"]["inputs"]["job"]["options"]
    assert set(dispatch) == JOBS


def test_every_command_exists_in_our_cli() -> None:
    for _, lines in commands().values():
        for line in lines:
            done = subprocess.run(
                [sys.executable, *line[5:], "--help"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (line, done.stderr)
            assert "Usage:" in done.stdout


def test_installs_exactly_the_lock() -> None:
    # The same uv as `make setup` and the Dockerfile, and only what uv.lock pins.
    version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert version is not None
    for job in workflow()["jobs"].values():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert f'"uv=={version.group(1)}"' in script
        assert "uv sync --locked" in script
        assert "pip install --disable-pip-version-check ." not in script


def test_the_token_is_a_secret() -> None:
    for job in workflow()["jobs"].values():
        assert job["env"]["RAILWAY_TOKEN"] == "${{ secrets.RAILWAY_TOKEN }}"
