"""The GraphQL requests bench/query.py drives, each as a client of the API would send it.

- `offerings`: a page of 20 offerings with their issuer and totals (10,000 offerings);
- `positions`: one holder's positions, with totals per location;
- `events`: a page of 20 chain event feed items after a cursor, every field of the item (a
  feed page as a front end shows and pages it);
- `offering`: one offering by global id with its issuer and totals (a detail page).
"""

from __future__ import annotations

from typing import Any

from query_seed import HOLDER  # bench/ is the script's folder

from schema.relay import to_global_id

QUERIES = {
    "offerings": "query Offerings { offerings(first: 20) { totalCount edges { node { id name "
    "isin status issuer { id name } totals { investmentsCount investorsCount "
    "amountCommitted } } } } }",
    "positions": "query Positions($holder: Address!) { positions(holder: $holder, first: 20) "
    "{ totalCount totals { location quantity } edges { node { id quantity "
    "location } } } }",
    "events": "query Events($after: String) { events(first: 20, after: $after) { pageInfo { "
    "hasNextPage hasPreviousPage endCursor } edges { cursor node { id sequence chainId "
    "contractAddress contractName eventName blockNumber blockHash txHash logIndex args "
    "removed removesSequence blockTimestamp } } } }",
    "offering": "query Offering($id: ID!) { offering(id: $id) { id name isin status "
    "unitPrice currency opensAt closesAt issuer { id name } totals { investmentsCount "
    "investorsCount amountCommitted } } }",
}
VARIABLES: dict[str, dict[str, Any]] = {
    "positions": {"holder": HOLDER},
    "events": {"after": "10000"},
    "offering": {"id": str(to_global_id("Offering", 42))},
}


def payload(name: str) -> dict[str, Any]:
    """The JSON body of query `name`."""
    return {
        "query": QUERIES[name],
        "operationName": name.capitalize(),
        "variables": VARIABLES.get(name, {}),
    }
