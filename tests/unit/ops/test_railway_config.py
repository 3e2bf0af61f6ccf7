"""The Railway files: known keys only, real commands, a served health path, sane timings.

Keys and values are those of Railway's Config as Code reference
(docs.railway.com/config-as-code/reference); a key Railway does not know would be ignored
silently, or fail the deploy.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from app.web import create_app
from dpo.sender.service import STOP_SECONDS as SENDER_STOP_SECONDS
from dpo.settings import Settings
from listener.service import STOP_GRACE_SECONDS
from tests.support.cron_rules import railway_problems

ROOT = Path(__file__).resolve().parents[3]
FILES = {
    "web": "railway.toml",
    "listener": "railway.listener.toml",
    "cron": "railway.cron.toml",
    "sender": "railway.sender.toml",
}
TOP = {"$schema", "build", "deploy", "environments"}
BUILD = {
    "builder",
    "watchPatterns",
    "buildCommand",
    "dockerfilePath",
    "railpackVersion",
    "nixpacksConfigPath",
    "nixpacksPlan",
    "nixpacksVersion",
}
DEPLOY = {
    "startCommand",
    "preDeployCommand",
    "multiRegionConfig",
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "cronSchedule",
    "overlapSeconds",
    "drainingSeconds",
}
BUILDERS = {"RAILPACK", "DOCKERFILE", "NIXPACKS"}
RESTART = {"ON_FAILURE", "ALWAYS", "NEVER"}
NUMBERS = {"healthcheckTimeout", "restartPolicyMaxRetries", "overlapSeconds", "drainingSeconds"}
# Seconds between the end of a drain and the end of the process (closing pools, logging).
MARGIN = 5


def config(service: str) -> dict[str, Any]:
    """One service's file, parsed."""
    return tomllib.loads((ROOT / FILES[service]).read_text())


def deploy(service: str) -> dict[str, Any]:
    """The file's [deploy] table."""
    table: dict[str, Any] = config(service)["deploy"]
    return table


def _check_section(name: str, section: dict[str, Any]) -> list[str]:
    problems = [
        f"unknown key {name}.{key}"
        for key in section
        if key not in (BUILD if name == "build" else DEPLOY)
    ]
    if name == "build":
        if section.get("builder", "RAILPACK") not in BUILDERS:
            problems.append(f"builder {section['builder']!r}")
        return problems
    for key in NUMBERS & section.keys():
        if type(section[key]) is not int or section[key] < 0:
            problems.append(f"{key} must be a whole number of seconds")
    if section.get("restartPolicyType", "ON_FAILURE") not in RESTART:
        problems.append(f"restartPolicyType {section['restartPolicyType']!r}")
    pre = section.get("preDeployCommand", [])
    if not (isinstance(pre, list) and all(isinstance(c, str) for c in pre)):
        problems.append("preDeployCommand must be a list of command strings")
    for region, value in section.get("multiRegionConfig", {}).items():
        replicas = value.get("numReplicas") if isinstance(value, dict) else None
        if set(value) != {"numReplicas"} or type(replicas) is not int or replicas < 1:
            problems.append(f"multiRegionConfig.{region} must be {{numReplicas = N >= 1}}")
    if "cronSchedule" in section:
        problems.extend(railway_problems(section["cronSchedule"]))
    return problems


def problems_of(document: dict[str, Any]) -> list[str]:
    """Everything in a parsed config file Railway would not accept as we mean it."""
    problems = [f"unknown top-level key {key}" for key in document if key not in TOP]
    for name in ("build", "deploy"):
        problems.extend(_check_section(name, document.get(name, {})))
    for environment, override in document.get("environments", {}).items():
        problems.extend(f"environments.{environment}: {p}" for p in problems_of(override))
    return problems


@pytest.mark.parametrize("service", FILES)
def test_only_known_keys_and_values(service: str) -> None:
    assert problems_of(config(service)) == []


def test_the_checker_refuses_what_railway_refuses() -> None:
    bad = {
        "deploy": {
            "startComand": "x",
            "drainingSeconds": "10",
            "restartPolicyType": "always",
            "cronSchedule": "*/7 * * * *",
            "multiRegionConfig": {"europe-west4-drams3a": {"numReplicas": 0}},
        },
        "build": {"builder": "HEROKU"},
        "services": [],
    }
    problems = "\n".join(problems_of(bad))
    for expected in (
        "top-level key services",
        "builder 'HEROKU'",
        "deploy.startComand",
        "drainingSeconds must be",
        "restartPolicyType 'always'",
        "multiRegionConfig.europe-west4-drams3a",
        "4 minutes apart",
    ):
        assert expected in problems, problems


def _commands() -> list[tuple[str, str]]:
    found = []
    for service in FILES:
        section = deploy(service)
        found.append((service, section["startCommand"]))
        found.extend((service, command) for command in section.get("preDeployCommand", []))
    return found


@pytest.mark.parametrize(("service", "command"), _commands())
def test_every_command_exists_in_our_cli(service: str, command: str) -> None:
    words = shlex.split(command)
    assert words[0] == "python", f"{service}: {command!r} must run our interpreter"
    done = subprocess.run(
        [sys.executable, *words[1:], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "Usage:" in done.stdout, done.stdout


def test_the_health_path_is_a_route_of_the_app() -> None:
    path = deploy("web")["healthcheckPath"]
    app = create_app(
        Settings(_env_file=None), database_url="postgresql://h/db", redis_url="redis://h:6379/0"
    )
    routes = [r for r in app.routes if isinstance(r, Route) and r.path == path]
    assert routes, f"{path} is not served"
    assert "GET" in (routes[0].methods or set())
    assert "healthcheckPath" not in deploy("listener")  # no HTTP port there
    assert "healthcheckPath" not in deploy("cron")
    assert "healthcheckPath" not in deploy("sender")


def test_replicas() -> None:
    web = deploy("web")["multiRegionConfig"]
    assert sum(region["numReplicas"] for region in web.values()) >= 2
    listener = deploy("listener")["multiRegionConfig"]
    # One active, one standby: more would only wait on the same lock.
    assert sum(region["numReplicas"] for region in listener.values()) == 2
    assert deploy("listener")["restartPolicyType"] == "ALWAYS"
    assert deploy("cron")["restartPolicyType"] == "ALWAYS"
    sender = deploy("sender")["multiRegionConfig"]
    assert sum(region["numReplicas"] for region in sender.values()) == 2  # active + standby
    assert deploy("sender")["restartPolicyType"] == "ALWAYS"


def test_draining_outlasts_each_service_own_stop() -> None:
    settings = Settings(_env_file=None)
    assert deploy("web")["drainingSeconds"] >= settings.web_drain_seconds + MARGIN
    assert deploy("listener")["drainingSeconds"] >= STOP_GRACE_SECONDS + MARGIN
    assert deploy("cron")["drainingSeconds"] >= settings.jobs_stop_seconds + MARGIN
    assert deploy("sender")["drainingSeconds"] >= SENDER_STOP_SECONDS + MARGIN


def test_keep_alive_outlasts_railway_edge() -> None:
    # Railway's edge proxy keeps idle upstream connections 60 s (public networking limits).
    assert Settings(_env_file=None).http_keep_alive_seconds > 60


def test_one_source_of_truth() -> None:
    # Railway reads railway.json before railway.toml, and a service managed by the project's
    # .railway/railway.ts cannot also be managed by these files (docs/RUNBOOK.md).
    assert not (ROOT / "railway.json").exists()
    assert not (ROOT / ".railway").exists()
