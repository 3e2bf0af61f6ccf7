"""Read the Dockerfile's stages, and run its build stage on this machine.

Building the image takes minutes and a container engine (`make image-test`, tests/image), so
the tests that run everywhere check the Dockerfile's text and carry out the build stage's own
COPY, ENV, WORKDIR and RUN lines in a folder standing in for /app: the install a test then
inspects is the one those lines make, not a copy of them.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str


@dataclass
class Stage:
    """The instructions from one FROM to the next."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every instruction with this keyword."""
        return [i.arguments for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, comments dropped and continuations joined."""
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        result.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return result


def parse(path: Path = ROOT / "Dockerfile") -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages and instruction.keyword == "ARG":
            key, _, value = instruction.arguments.partition("=")
            args[key] = value
        elif stages:
            stages[-1].instructions.append(instruction)
    return args, stages


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps this path (or a folder above it) out of the context."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(
        fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, "*/" + pattern)
        for pattern in patterns
        for prefix in prefixes
    )


def dockerignore() -> list[str]:
    """The patterns of .dockerignore."""
    text = (ROOT / ".dockerignore").read_text()
    return [
        p.strip().removeprefix("**/")
        for p in text.splitlines()
        if p.strip() and not p.startswith("#")
    ]


def _env_pairs(arguments: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def run_build_stage(
    stage: Stage,
    app: Path,
    replace: dict[str, str],
    *,
    skip: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> None:
    """Carry out COPY, ENV, WORKDIR and RUN of `stage` with /app at `app`.

    `replace` maps paths inside the image to paths here; RUN lines containing a `skip`
    text are left out (installing uv, which `make setup` already did); `env` is the
    environment the ENV lines add to.
    """

    def here(value: str) -> str:
        for inside, outside in replace.items():
            value = value.replace(inside, outside)
        return value

    env = dict(os.environ if env is None else env)
    workdir = app
    for instruction in stage.instructions:
        arguments = instruction.arguments
        if instruction.keyword == "WORKDIR":
            workdir = Path(here(arguments))
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            env.update({key: here(value) for key, value in _env_pairs(arguments).items()})
        elif instruction.keyword == "COPY":
            *sources, target = arguments.split()
            destination = workdir / target
            for source in sources:
                origin = ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin,
                        destination,
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"),
                    )
                else:
                    destination.mkdir(parents=True, exist_ok=True)
                    shutil.copy(origin, destination / origin.name)
        elif instruction.keyword == "RUN" and not any(text in arguments for text in skip):
            subprocess.run(
                ["bash", "-c", here(arguments)],
                cwd=workdir,
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
