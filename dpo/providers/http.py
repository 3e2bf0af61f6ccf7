"""The one HTTP layer every provider client uses.

Per logical call: one `X-Request-ID` (kept across retries, so the provider's logs and ours
line up), the provider's timeout, retries with exponential backoff and jitter (stamina) on
5xx, 429 (waiting what `Retry-After` says, capped) and connection errors, all inside the
provider's circuit breaker (dpo.providers.breaker), and a bounded response body. Outcomes
are typed errors (dpo.errors) and Prometheus series per provider and outcome.

Secrets: the API key is a SecretStr put into a header only when the request is built; we
never log headers, URLs with query strings, bodies or exception texts from httpx (which may
quote a URL), only the provider name, method, path template, status and our request id.
"""

from __future__ import annotations

import email.utils
import json as json_module
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import stamina

from dpo.errors import ProviderError, ProviderMalformed, ProviderRejected, ProviderUnavailable
from dpo.providers import metrics
from dpo.providers.breaker import Breakers, CircuitOpen
from dpo.providers.endpoint import Endpoint, RetryPolicy

logger = logging.getLogger(__name__)
T = TypeVar("T")
REQUEST_ID_HEADER = "X-Request-ID"


class _TransientError(Exception):
    """A failed attempt worth retrying; its text is ours (safe to log)."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, unprocessed: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        # True when the provider surely did not act on the request (safe to send again).
        self.unprocessed = unprocessed


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{1,9}(\.\d{1,6})?", value):
        # RFC 9110 says whole seconds; a fraction is accepted as meant.
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ProviderHttp:
    """An HTTP client for one provider with retries, a breaker, metrics and no leaks."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        policy: RetryPolicy,
        breakers: Breakers,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.breakers = breakers
        self._client = httpx.AsyncClient(
            base_url=endpoint.base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(endpoint.timeout),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "dpo-platform"},
        )

    @property
    def provider(self) -> str:
        """The provider's name (metrics label, breaker name, error prefix)."""
        return self.endpoint.provider

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        parse: Callable[[httpx.Response, bytes], T],
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> T:
        """One logical call: send (retrying), then parse a 2xx body with `parse`.

        `parse` raises ProviderMalformed for a body it cannot use. A non-idempotent call
        (a POST that creates something) is retried only when the request surely did not
        reach the provider (connect errors) or was refused unprocessed (429).
        """
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        outcome = "ok"
        try:
            breaker = await self.breakers.guard(self.provider)
            async with breaker:
                response, body = await self._send_with_retries(
                    method, path, request_id, params=params, json=json, idempotent=idempotent
                )
                return parse(response, body)
        except CircuitOpen:
            outcome = "circuit_open"
            raise ProviderUnavailable(
                self.provider, "circuit open: not called", request_id=request_id
            ) from None
        except ProviderError as error:
            outcome = {ProviderRejected: "rejected", ProviderMalformed: "malformed"}.get(
                type(error), "unavailable"
            )
            error.details.setdefault("request_id", request_id)
            raise
        finally:
            elapsed = time.perf_counter() - started
            metrics.CALLS.labels(self.provider, outcome).inc()
            metrics.CALL_SECONDS.labels(self.provider, outcome).observe(elapsed)
            log = logger.info if outcome == "ok" else logger.warning
            log(
                "provider call %s %s %s: %s in %.0f ms (request id %s)",
                self.provider,
                method,
                path,
                outcome,
                elapsed * 1000,
                request_id,
            )

    def _headers(self, request_id: str) -> dict[str, str]:
        headers = {**self.endpoint.headers, REQUEST_ID_HEADER: request_id}
        if self.endpoint.api_key is not None:
            headers[self.endpoint.key_header] = (
                self.endpoint.key_prefix + self.endpoint.api_key.get_secret_value()
            )
        return headers

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        request_id: str,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
        idempotent: bool,
    ) -> tuple[httpx.Response, bytes]:
        policy = self.policy

        def backoff(error: Exception) -> bool | float:
            if not isinstance(error, _TransientError) or (not idempotent and not error.unprocessed):
                return False
            if error.retry_after is not None:
                return min(error.retry_after, policy.retry_after_max)
            return True

        try:
            async for attempt in stamina.retry_context(
                on=backoff,
                attempts=policy.attempts,
                timeout=policy.total_seconds,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_initial,
            ):
                with attempt:
                    return await self._attempt(method, path, request_id, params=params, json=json)
        except _TransientError as error:
            raise ProviderUnavailable(self.provider, error.reason) from None
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        request_id: str,
        *,
        params: Mapping[str, str | int] | None,
        json: Any,
    ) -> tuple[httpx.Response, bytes]:
        headers = self._headers(request_id)
        content: bytes | None = None
        if self.endpoint.signer is not None:
            # The signature covers the exact bytes sent, so we encode the body ourselves.
            if json is not None:
                content = json_module.dumps(json, separators=(",", ":")).encode()
                headers["Content-Type"] = "application/json"
            url_path = self._client.base_url.join(path.lstrip("/")).path
            headers.update(self.endpoint.signer(method, url_path, content or b""))
            json = None
        try:
            async with self._client.stream(
                method, path.lstrip("/"), params=params, json=json, content=content, headers=headers
            ) as response:
                status = response.status_code
                if status == 429 or status >= 500:
                    metrics.ATTEMPTS.labels(self.provider, "429" if status == 429 else "5xx").inc()
                    wait = (
                        parse_retry_after(response.headers.get("retry-after"))
                        if status in (429, 503)
                        else None
                    )
                    raise _TransientError(
                        f"HTTP {status}", retry_after=wait, unprocessed=status == 429
                    )
                if status >= 300:
                    metrics.ATTEMPTS.labels(self.provider, "4xx").inc()
                    raise ProviderRejected(
                        self.provider, f"refused with HTTP {status}", status=status
                    )
                body = await self._read_capped(response)
                metrics.ATTEMPTS.labels(self.provider, "2xx").inc()
                return response, body
        except httpx.TimeoutException as error:
            metrics.ATTEMPTS.labels(self.provider, "timeout").inc()
            raise _TransientError(
                f"timed out ({type(error).__name__})",
                unprocessed=isinstance(error, httpx.ConnectTimeout),
            ) from None
        except httpx.TransportError as error:
            metrics.ATTEMPTS.labels(self.provider, "connection").inc()
            raise _TransientError(
                f"connection failed ({type(error).__name__})",
                unprocessed=isinstance(error, httpx.ConnectError),
            ) from None

    async def _read_capped(self, response: httpx.Response) -> bytes:
        limit = self.policy.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ProviderMalformed(self.provider, f"answer larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ProviderMalformed(self.provider, f"answer larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
