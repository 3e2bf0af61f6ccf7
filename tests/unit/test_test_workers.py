"""Parallel test workers each get a Redis database of their own (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import worker_redis_url


def test_the_first_worker_uses_the_named_database() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/15", 0) == "redis://127.0.0.1:6379/15"


def test_later_workers_use_the_databases_below_it() -> None:
    assert worker_redis_url("redis://127.0.0.1:6379/15", 1) == "redis://127.0.0.1:6379/14"
    assert worker_redis_url("redis://:pw@h:6379/15", 3) == "redis://:pw@h:6379/12"


def test_a_db_query_parameter_is_replaced_by_the_path() -> None:
    assert worker_redis_url("redis://h:6379?db=9&protocol=3", 2) == "redis://h:6379/7?protocol=3"


def test_too_many_workers_for_the_named_database_is_refused() -> None:
    with pytest.raises(RuntimeError, match="too few below it"):
        worker_redis_url("redis://h:6379/1", 2)
