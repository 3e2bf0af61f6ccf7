"""Redis replies are parsed by hiredis (C), not redis-py's Python parser.

Every /graphql request makes two Redis calls (the rate limit, the query budget), and the Python
parser and command packer cost about 50 Python calls per command (cProfile).
"""

from __future__ import annotations

import redis.asyncio.connection
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.utils import HIREDIS_AVAILABLE


def test_the_async_client_parses_with_hiredis() -> None:
    assert HIREDIS_AVAILABLE
    assert redis.asyncio.connection.DefaultParser is _AsyncHiredisParser
