"""The per-service rules of `check --deploy`: the wallet key on the sender, and only there."""

from __future__ import annotations

import pytest

from dpo.deploy_environment import check_environment
from dpo.deploy_services import SERVICES, resolve_service, wallet_key_problem
from tests.unit.test_deploy_checks import ANVIL_KEY_0, good

__all__ = ["good"]  # the fixture: a proper production environment (with the wallet key)
NON_SIGNING = [service for service in SERVICES if service != "sender"]


def _without_key(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k != "WALLET_PRIVATE_KEY"}


def test_the_sender_with_the_key_and_the_others_without_have_no_problems(
    good: dict[str, str],
) -> None:
    assert check_environment(good, "sender")[1] == []
    for service in NON_SIGNING:
        assert check_environment(_without_key(good), service)[1] == [], service


@pytest.mark.parametrize("service", NON_SIGNING)
def test_the_key_on_a_service_that_never_signs_is_an_error(
    good: dict[str, str], service: str
) -> None:
    _, problems = check_environment(good, service)
    assert [(p.variable, p.id) for p in problems] == [("WALLET_PRIVATE_KEY", "dpo.E021")]
    assert problems[0].message == (
        f"is set on the {service} service, which never signs: keep the platform's key on the "
        "sender only (least privilege)"
    )
    assert good["WALLET_PRIVATE_KEY"][2:] not in problems[0].message


def test_the_sender_without_the_key_is_an_error(good: dict[str, str]) -> None:
    for environ in (_without_key(good), {**good, "WALLET_PRIVATE_KEY": "  "}):
        _, problems = check_environment(environ, "sender")
        assert [(p.variable, p.id, p.message) for p in problems] == [
            (
                "WALLET_PRIVATE_KEY",
                "dpo.E003",
                "is not set: the sender signs the platform's transactions with it",
            )
        ]


def test_an_anvil_key_on_the_sender_is_still_refused(good: dict[str, str]) -> None:
    _, problems = check_environment({**good, "WALLET_PRIVATE_KEY": ANVIL_KEY_0}, "sender")
    assert [(p.variable, p.id) for p in problems] == [("WALLET_PRIVATE_KEY", "dpo.E014")]


def test_a_placeholder_key_on_the_web_is_reported_once(good: dict[str, str]) -> None:
    _, problems = check_environment({**good, "WALLET_PRIVATE_KEY": "your-wallet-key"}, "web")
    assert [(p.variable, p.id) for p in problems] == [("WALLET_PRIVATE_KEY", "dpo.E004")]


def test_without_a_service_the_key_is_judged_as_before(good: dict[str, str]) -> None:
    assert check_environment(good)[1] == []
    assert check_environment(_without_key(good))[1] == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"RAILWAY_SERVICE_NAME": "sender"}, "sender"),
        ({"RAILWAY_SERVICE_NAME": " Web \n"}, "web"),
        ({"railway_service_name": "listener"}, "listener"),
        ({"RAILWAY_SERVICE_NAME": ""}, None),
        ({}, None),
    ],
)
def test_the_service_comes_from_railways_variable(
    environ: dict[str, str], expected: str | None
) -> None:
    assert resolve_service(None, environ) == (expected, [])


def test_the_option_wins_over_railways_variable() -> None:
    assert resolve_service("sender", {"RAILWAY_SERVICE_NAME": "web"}) == ("sender", [])


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("api", "'api'"),
        ("x" * 100_000, "'" + "x" * 40 + "…'"),
        ("web\x1b[2J\nsender", "'web?[2j?sender'"),
    ],
)
def test_a_service_not_ours_is_reported_and_its_rules_skipped(name: str, shown: str) -> None:
    service, problems = resolve_service(None, {"RAILWAY_SERVICE_NAME": name})
    assert service is None
    assert [(p.variable, p.id) for p in problems] == [("RAILWAY_SERVICE_NAME", "dpo.W009")]
    assert problems[0].message == (
        f"is {shown}, not one of web, listener, cron, sender: the per-service checks were not "
        "run (pass --service)"
    )


def test_the_rule_table() -> None:
    assert wallet_key_problem(None, True) is None
    assert wallet_key_problem(None, False) is None
    assert wallet_key_problem("sender", True) is None
    assert wallet_key_problem("sender", False) is not None
    for service in NON_SIGNING:
        assert wallet_key_problem(service, False) is None
        assert wallet_key_problem(service, True) is not None
