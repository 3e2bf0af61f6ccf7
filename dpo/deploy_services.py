"""Which service `check --deploy` judges, and the variable only one service may hold.

The four Railway services run one image with different jobs, so they need different
variables. The platform wallet's key signs transactions; only the sender does that, so only
the sender may hold it: on the web, listener or cron service it would only widen what a
compromise of one of them gives away (least privilege), and the sender refuses to start
without it. Railway sets RAILWAY_SERVICE_NAME in every deployment and in `railway run`;
`check --deploy --service NAME` names the service where that variable is absent or names
another one.
"""

from __future__ import annotations

from collections.abc import Mapping

from dpo.deploy_problems import Problem, problem

SERVICES = ("web", "listener", "cron", "sender")
# The services that sign with WALLET_PRIVATE_KEY (dpo/sender/service.py).
SIGNING = frozenset({"sender"})
SERVICE_VARIABLE = "RAILWAY_SERVICE_NAME"
UNKNOWN_SERVICE = "dpo.W009"
KEY_WHERE_NOTHING_SIGNS = "dpo.E021"
# A service name shown in a message is cut here (it comes from the environment).
SHOWN = 40


def resolve_service(
    explicit: str | None, environ: Mapping[str, str]
) -> tuple[str | None, list[Problem]]:
    """The service to judge: `explicit`, else RAILWAY_SERVICE_NAME when it is one of ours.

    None means no per-service rule runs; a RAILWAY_SERVICE_NAME that is not one of ours is
    reported, so an operator who renamed a service learns that the rules were skipped.
    """
    if explicit is not None:
        return explicit, []
    raw = next((v for k, v in environ.items() if k.upper() == SERVICE_VARIABLE), None)
    name = (raw or "").strip().lower()
    if not name:
        return None, []
    if name in SERVICES:
        return name, []
    shown = "".join(ch if ch.isprintable() else "?" for ch in name[:SHOWN])
    cut = "…" if len(name) > SHOWN else ""
    return None, [
        problem(
            SERVICE_VARIABLE,
            UNKNOWN_SERVICE,
            f"is {shown + cut!r}, not one of {', '.join(SERVICES)}: the "
            "per-service checks were not run (pass --service)",
        )
    ]


def wallet_key_problem(service: str | None, present: bool) -> tuple[str, str] | None:
    """The id and message of a misplaced or missing WALLET_PRIVATE_KEY, or None."""
    if service is None:
        return None
    if service in SIGNING and not present:
        return "dpo.E003", f"is not set: the {service} signs the platform's transactions with it"
    if service not in SIGNING and present:
        return (
            KEY_WHERE_NOTHING_SIGNS,
            f"is set on the {service} service, which never signs: "
            "keep the platform's key on the sender only (least privilege)",
        )
    return None
