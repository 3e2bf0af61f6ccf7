"""The databases' public URLs, for a command run by `railway run` on another machine.

`railway run --service web CMD` runs CMD here with the service's variables, and its
DATABASE_URL and REDIS_URL name Railway's private network (`*.railway.internal`), which
resolves only inside Railway. Railway's PostgreSQL and Redis also publish their TCP proxy's
address as DATABASE_PUBLIC_URL and REDIS_PUBLIC_URL; railway-setup.sh references both on every
service, and `dpo --public-urls CMD` (railway-tasks.sh, the scheduled workflow, one-off
commands) uses them instead. Inside Railway the private URLs stay in use: no flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from dpo.settings import ConfigError

# The variable each public URL replaces, and the schemes it may have.
PUBLIC = {
    "DATABASE_PUBLIC_URL": ("DATABASE_URL", ("postgres", "postgresql")),
    "REDIS_PUBLIC_URL": ("REDIS_URL", ("redis", "rediss")),
}
PRIVATE_SUFFIX = ".railway.internal"
MAX_LENGTH = 4096


def _unusable(value: str, schemes: tuple[str, ...]) -> str | None:
    """Why this public URL cannot be used, said without its value (it holds a password)."""
    if len(value) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if "${{" in value:
        return (
            "is a Railway reference that did not resolve (the database service is not "
            "named as railway-setup.sh expects, or its TCP proxy is off)"
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in schemes:
        return f"is not a {schemes[-1]}:// URL"
    if not host or port is None:
        return "names no host and port"
    if host.endswith(PRIVATE_SUFFIX):
        return "names the private network, which resolves only inside Railway"
    return None


def public_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL set to the public URLs; ConfigError names what is wrong."""
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for public, (private, schemes) in PUBLIC.items():
        value = environ.get(public, "").strip()
        if not value:
            problems.append(
                f"{public}: not set (enable the database's TCP proxy; "
                "railway-setup.sh references it on every service)"
            )
        elif reason := _unusable(value, schemes):
            problems.append(f"{public}: {reason}")
        else:
            chosen[private] = value
    if problems:
        raise ConfigError("--public-urls: " + "; ".join(problems))
    return chosen
