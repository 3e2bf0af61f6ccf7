"""Offerings through the schema in process, as each role: reads, mutations, refusals, audit."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from dpo.auth.principal import ANONYMOUS, Kind, Principal
from dpo.db.models import AuditLog, Issuer, Offering
from dpo.services.codes import isin_check_digit
from tests.integration.api.committed import Api

FIELDS = "id isin name status currency unitPrice opensAt issuer { id name }"


def gid(type_name: str, db_id: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{db_id}".encode()).decode()


def new_isin() -> str:
    body = "XS" + secrets.token_hex(5).upper()[:9]
    return body + str(isin_check_digit(body))


def admin() -> Principal:
    return Principal(kind=Kind.STAFF, role="admin", user_id=1)


def staff(issuer_id: int) -> Principal:
    return Principal(kind=Kind.STAFF, role="issuer", user_id=7, issuer_id=issuer_id)


def investor() -> Principal:
    return Principal(kind=Kind.WALLET, role="investor", investor_id=99, address="0x" + "11" * 20)


@pytest.fixture(scope="module")
async def world(api: Api) -> dict[str, Any]:
    """Two issuers; Acme has one offering in every status, Bolt a draft."""
    async with api.runtime.sessions() as session, session.begin():
        acme = Issuer(name="Acme AG", country="CH")
        bolt = Issuer(name="Bolt GmbH", country="DE")
        rows: dict[str, Offering] = {}
        for i, status in enumerate(("draft", "open", "closed", "settled", "cancelled")):
            rows[status] = Offering(
                issuer=acme,
                isin=new_isin(),
                name=f"Acme {status}",
                symbol="ACME",
                security_type="equity",
                regulation="reg_s",
                currency="EUR",
                unit_price=Decimal("12.5"),
                hard_cap=Decimal(100000),
                status=status,
                opens_at=datetime.now(UTC) + timedelta(days=i),
                closes_at=datetime.now(UTC) + timedelta(days=30),
            )
            session.add(rows[status])
        rows["bolt_draft"] = Offering(
            issuer=bolt,
            isin=new_isin(),
            name="Bolt draft",
            symbol="BOLT",
            security_type="debt",
            regulation="reg_d_506c",
            currency="USD",
            unit_price=Decimal(100),
            status="draft",
        )
        session.add(rows["bolt_draft"])
    return {
        "acme": acme.id,
        "bolt": bolt.id,
        **{k: v.id for k, v in rows.items()},
        "isins": {k: v.isin for k, v in rows.items()},
    }


async def counts(api: Api) -> tuple[int, int]:
    async with api.runtime.sessions() as session:
        offerings = await session.scalar(select(func.count()).select_from(Offering))
        audits = await session.scalar(select(func.count()).select_from(AuditLog))
    return int(offerings or 0), int(audits or 0)


async def names(api: Api, principal: Principal, **filters: Any) -> list[str]:
    result = await api.run(
        "query($f: OfferingFilter) { offerings(filter: $f, first: 100) "
        "{ edges { node { name } } } }",
        principal,
        f=filters or None,
    )
    assert result["errors"] == []
    return sorted(e["node"]["name"] for e in result["data"]["offerings"]["edges"])


async def test_each_role_sees_its_offerings(api: Api, world: dict[str, Any]) -> None:
    assert await names(api, ANONYMOUS) == ["Acme open"]
    assert await names(api, investor()) == ["Acme closed", "Acme open", "Acme settled"]
    assert await names(api, staff(world["bolt"])) == ["Acme open", "Bolt draft"]
    assert len(await names(api, staff(world["acme"]))) == 5
    assert len(await names(api, admin())) == 6
    assert await names(api, admin(), status="DRAFT") == ["Acme draft", "Bolt draft"]
    assert await names(api, admin(), issuerId=gid("Issuer", world["bolt"])) == ["Bolt draft"]
    assert await names(api, admin(), currency="usd", regulation="REG_D_506C") == ["Bolt draft"]
    assert await names(api, admin(), search="bolt") == ["Bolt draft"]
    assert await names(api, admin(), search=world["isins"]["open"][:10]) == ["Acme open"]


async def test_offering_by_id_and_isin_with_node(api: Api, world: dict[str, Any]) -> None:
    open_id = gid("Offering", world["open"])
    result = await api.run(f'{{ offering(id: "{open_id}") {{ {FIELDS} }} }}')
    assert result["errors"] == []
    offering = result["data"]["offering"]
    assert offering["status"] == "OPEN"
    assert offering["unitPrice"] == "12.5"
    assert offering["opensAt"].endswith("Z")
    assert offering["issuer"] == {"id": gid("Issuer", world["acme"]), "name": "Acme AG"}
    by_isin = await api.run(f'{{ offering(isin: "{world["isins"]["open"]}") {{ id }} }}')
    assert by_isin["data"]["offering"]["id"] == open_id
    node = await api.run(f'{{ node(id: "{open_id}") {{ id ... on Offering {{ name }} }} }}')
    assert node["data"]["node"] == {"id": open_id, "name": "Acme open"}
    issuer = await api.run(
        f'{{ node(id: "{gid("Issuer", world["acme"])}") {{ ... on Issuer {{ name }} }} }}'
    )
    assert issuer["data"]["node"] == {"name": "Acme AG"}


async def test_hidden_offerings_are_not_found(api: Api, world: dict[str, Any]) -> None:
    draft = gid("Offering", world["draft"])
    result = await api.run(f'{{ offering(id: "{draft}") {{ id name }} }}')
    assert result["data"] == {"offering": None}
    assert result["errors"][0]["code"] == "NOT_FOUND"
    by_isin = await api.run(
        f'{{ offering(isin: "{world["isins"]["bolt_draft"]}") {{ id }} }}', staff(world["acme"])
    )
    assert by_isin["errors"][0]["code"] == "NOT_FOUND"
    node = await api.run(f'{{ node(id: "{draft}") {{ id }} }}', investor())
    assert node == {"data": {"node": None}, "errors": []}
    bolt = await api.run(f'{{ node(id: "{gid("Issuer", world["bolt"])}") {{ id }} }}')
    assert bolt == {"data": {"node": None}, "errors": []}
    seen = await api.run(f'{{ offering(id: "{draft}") {{ name }} }}', staff(world["acme"]))
    assert seen["data"]["offering"] == {"name": "Acme draft"}


async def test_pagination_and_limits(api: Api, world: dict[str, Any]) -> None:
    query = (
        "query($after: String) { offerings(first: 2, after: $after, "
        "orderBy: {field: NAME, direction: DESC}) { totalCount "
        "pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { name } } } }"
    )
    seen: list[str] = []
    after = None
    while True:
        result = await api.run(query, admin(), after=after)
        page = result["data"]["offerings"]
        assert page["totalCount"] == 6
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 6
    too_many = await api.run("{ offerings(first: 101) { totalCount } }")
    assert too_many["errors"][0]["code"] == "LIMIT_EXCEEDED"
    bad_cursor = await api.run('{ offerings(after: "bm90IG91cnM=") { totalCount } }')
    assert bad_cursor["errors"][0]["code"] == "VALIDATION"
    assert bad_cursor["errors"][0]["field"] == "after"


CREATE = """
mutation($input: CreateOfferingInput!) {
  createOffering(input: $input) { id status isin unitPrice minTicket closesAt issuer { name } }
}
"""


def create_input(issuer_id: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "issuerId": gid("Issuer", issuer_id),
        "isin": new_isin().lower(),
        "name": "Acme C",
        "symbol": "ACMC",
        "securityType": "EQUITY",
        "regulation": "REG_S",
        "currency": "chf",
        "unitPrice": "5.00",
        "minTicket": "50",
        "maxTicket": "5000",
        "softCap": "10000",
        "hardCap": "90000",
        "opensAt": "2030-01-01T09:00:00+01:00",
        "closesAt": "2030-02-01T09:00:00Z",
    }
    values.update(overrides)
    return values


async def test_life_cycle_through_mutations(api: Api, world: dict[str, Any]) -> None:
    me = staff(world["acme"])
    before = await counts(api)
    created = await api.run(CREATE, me, input=create_input(world["acme"]))
    assert created["errors"] == []
    offering = created["data"]["createOffering"]
    assert offering["status"] == "DRAFT"
    assert offering["unitPrice"] == "5"
    assert offering["closesAt"] == "2030-02-01T09:00:00Z"
    assert offering["issuer"] == {"name": "Acme AG"}
    assert offering["isin"] == offering["isin"].upper()
    oid = offering["id"]
    updated = await api.run(
        "mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { name minTicket } }",
        me,
        i={"id": oid, "name": "Acme C2", "minTicket": None},
    )
    assert updated["data"]["updateOffering"] == {"name": "Acme C2", "minTicket": None}
    for action, status in (
        ("openOffering", "OPEN"),
        ("closeOffering", "CLOSED"),
        ("cancelOffering", "CANCELLED"),
    ):
        result = await api.run(f'mutation {{ {action}(id: "{oid}") {{ status }} }}', me)
        assert result["data"][action] == {"status": status}
    refused = await api.run(f'mutation {{ openOffering(id: "{oid}") {{ status }} }}', me)
    assert refused["errors"][0]["code"] == "CONFLICT"
    assert refused["errors"][0]["status"] == "cancelled"
    assert await counts(api) == (before[0] + 1, before[1] + 5)


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("investor", "FORBIDDEN"),
        ("other", "FORBIDDEN"),
    ],
)
async def test_mutations_refused_change_nothing(
    api: Api, world: dict[str, Any], who: str, code: str
) -> None:
    principal = {"anonymous": ANONYMOUS, "investor": investor(), "other": staff(world["bolt"])}[who]
    before = await counts(api)
    created = await api.run(CREATE, principal, input=create_input(world["acme"]))
    assert created["data"] is None
    assert created["errors"][0]["code"] == code
    opened = await api.run(
        f'mutation {{ closeOffering(id: "{gid("Offering", world["open"])}") {{ status }} }}',
        principal,
    )
    assert opened["errors"][0]["code"] == code
    assert await counts(api) == before


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"isin": "US0378331006"}, "isin"),
        ({"currency": "EURO"}, "currency"),
        ({"unitPrice": 5.5}, "unitPrice"),
        ({"unitPrice": "1e3"}, "unitPrice"),
        ({"opensAt": "2030-01-01T09:00:00"}, "opensAt"),
        ({"issuerId": "garbage"}, "issuerId"),
        ({"minTicket": "6000"}, "min_ticket"),
        ({"softCap": "100000"}, "soft_cap"),
        ({"closesAt": "2029-01-01T00:00:00Z"}, "opens_at"),
    ],
)
async def test_bad_input_is_validation_and_changes_nothing(
    api: Api, world: dict[str, Any], override: dict[str, Any], field: str
) -> None:
    before = await counts(api)
    result = await api.run(CREATE, admin(), input=create_input(world["acme"], **override))
    assert result["data"] is None
    [error] = result["errors"]
    assert error["code"] == "VALIDATION"
    assert field in error["message"] or error.get("field") == field
    assert await counts(api) == before


async def test_update_after_draft_is_conflict(api: Api, world: dict[str, Any]) -> None:
    oid = gid("Offering", world["open"])
    result = await api.run(
        "mutation($i: UpdateOfferingInput!) { updateOffering(input: $i) { name } }",
        admin(),
        i={"id": oid, "name": "Renamed"},
    )
    assert result["errors"][0]["code"] == "CONFLICT"
    check = await api.run(f'{{ offering(id: "{oid}") {{ name }} }}')
    assert check["data"]["offering"]["name"] == "Acme open"
