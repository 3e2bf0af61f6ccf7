"""The API's SDL is what clients depend on: a refactoring of schema/ or resolvers/ leaves it as is.

The reviewed SDL is `schema.graphql` beside this file. A deliberate change to the API writes
the new one (`DPO_WRITE_SDL=1 pytest tests/unit/api/test_schema_sdl.py`) and commits it with
the change, so the difference is reviewed like code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from graphql import GraphQLInterfaceType

from app.graphql.schema import NODE_RESOLVERS, build_schema

SNAPSHOT = Path(__file__).with_name("schema.graphql")


def test_the_schema_prints_the_reviewed_sdl() -> None:
    printed = build_schema(debug=False).as_str() + "\n"
    if os.environ.get("DPO_WRITE_SDL") == "1":
        SNAPSHOT.write_text(printed)
    reviewed = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            reviewed.splitlines(keepends=True),
            printed.splitlines(keepends=True),
            "schema.graphql (reviewed)",
            "schema (printed)",
        )
    )
    assert printed == reviewed, f"the SDL changed:\n{diff}"


def test_debug_changes_nothing_a_client_sees() -> None:
    assert build_schema(debug=True).as_str() == build_schema(debug=False).as_str()


def test_node_finds_every_type_with_a_global_id() -> None:
    graphql = build_schema(debug=False)._schema
    node = graphql.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    assert {t.name for t in graphql.get_possible_types(node)} == set(NODE_RESOLVERS)
