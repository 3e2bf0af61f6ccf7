"""Live subscriptions: queue sizes, timeouts and caps of the WebSocket and SSE streams."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StreamingSettings(BaseModel):
    """The feed hub's knobs and the subscription transports' timeouts and caps.

    The connection caps are shared by the replicas through Redis (docs/SUBSCRIPTIONS.md).
    """

    subscriber_queue_size: int = Field(
        default=1000, ge=1, le=1_000_000, alias="SUBSCRIBER_QUEUE_SIZE"
    )
    feed_poll_interval: float = Field(default=2.0, gt=0, le=60, alias="FEED_POLL_INTERVAL")
    feed_page_size: int = Field(default=500, ge=1, le=10_000, alias="FEED_PAGE_SIZE")
    # Replay pages read at once per web process: below the connection pool (10 + 10 overflow)
    # so queries keep their connections while a crowd of subscribers resumes.
    feed_replay_concurrency: int = Field(default=4, ge=1, le=100, alias="FEED_REPLAY_CONCURRENCY")
    slow_consumer_seconds: float = Field(default=30.0, gt=0, le=3600, alias="SLOW_CONSUMER_SECONDS")
    ws_init_timeout: float = Field(default=5.0, gt=0, le=300, alias="WS_INIT_TIMEOUT")
    ws_keepalive_interval: float = Field(default=15.0, gt=0, le=300, alias="WS_KEEPALIVE_INTERVAL")
    # Seconds a closed socket's peer has to finish the close before the connection is reset.
    ws_close_timeout: float = Field(default=5.0, gt=0, le=300, alias="WS_CLOSE_TIMEOUT")
    # Lifetime of a connection's lease on the shared caps; renewed every third of it.
    ws_caps_lease_seconds: float = Field(default=60.0, ge=1, le=3600, alias="WS_CAPS_LEASE_SECONDS")
    # Redis key prefix of the shared caps: replicas that count together share it.
    ws_caps_namespace: str = Field(
        default="dpo:ws:caps", min_length=1, max_length=100, alias="WS_CAPS_NAMESPACE"
    )
    ws_max_subscriptions_per_connection: int = Field(
        default=20, ge=1, le=10_000, alias="WS_MAX_SUBSCRIPTIONS_PER_CONNECTION"
    )
    ws_max_connections_per_user: int = Field(
        default=20, ge=1, le=1_000_000, alias="WS_MAX_CONNECTIONS_PER_USER"
    )
    ws_max_connections_per_address: int = Field(
        default=200, ge=1, le=1_000_000, alias="WS_MAX_CONNECTIONS_PER_ADDRESS"
    )
