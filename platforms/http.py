"""The platform adapters' JSON-over-HTTP client: an ``httpx.Client`` plus the vendors' rules.

httpx does the HTTP (pooled connections, timeouts, TLS, redirects, the cookie
jar where GWS keeps its session).  On top: every failure becomes a typed
:mod:`~platforms.errors` error naming the platform, the request and what the
platform said (its code and message, found by a per-platform ``describe``);
429 (honouring ``Retry-After``), 5xx and no response for idempotent requests
are retried with :class:`~platforms.pacing.Backoff` through an injected
``sleep`` (httpx's transport retries only connecting, on its own clock); a
:class:`~platforms.pacing.RateLimiter` is kept under; a 401 re-authenticates
once.  Logs name method and path only: query strings (Yeastar's token) and
headers never, and httpx's own request line loses its query.
One client is used from one thread at a time.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .errors import (
    AuthError,
    BadRequest,
    Conflict,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    PlatformError,
    RateLimited,
    ServerError,
    TransportError,
)
from .pacing import Backoff, RateLimiter
from .secret import redact

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 << 20  # longer bodies are cut (and then are not JSON)
Describe = Callable[[Any], tuple[str | None, str | None]]  # error body -> (code, message)
_BY_STATUS: dict[int, type[PlatformError]] = {
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
}


class Auth(Protocol):
    """Adds credentials to a request; ``invalidate`` forces new ones after a 401."""

    def apply(self, headers: dict[str, str], query: dict[str, str]) -> None: ...
    def invalidate(self) -> None: ...


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True, slots=True)
class Response:
    platform: str
    method: str
    path: str
    status: int
    headers: Mapping[str, str]  # names lower-case
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            raise MalformedResponse(
                self.platform, f"{self.method} {self.path}: empty response", status=self.status
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as err:
            snippet = redact(self.body[:80].decode("utf-8", "replace"))
            raise MalformedResponse(
                self.platform,
                f"{self.method} {self.path}: response is not JSON ({err}): {snippet!r}",
                status=self.status,
            ) from err


def default_describe(body: Any) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("error") or body.get("code")
        msg = body.get("message") or body.get("error_description") or body.get("errmsg")
        return (str(code) if code is not None else None, str(msg) if msg is not None else None)
    return None, None


class HttpClient:
    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        limiter: RateLimiter | None = None,
        describe: Describe = default_describe,
        user_agent: str = "listenin",
        verify: Any = True,  # or an ssl.SSLContext
    ) -> None:
        self.platform, self.backoff, self.limiter = platform, backoff or Backoff(), limiter
        self.sleep, self.clock, self.describe = sleep, clock, describe
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._settings: dict[str, Any] = dict(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                              headers=headers, verify=verify,
                                              follow_redirects=True)  # fmt: skip
        self._client = httpx.Client(**self._settings)  # its jar keeps the cookies
        self.requests_sent = 0

    def close(self) -> None:
        """Close the pooled connections and forget the cookies; a later request starts afresh."""
        self._client.close()

    @classmethod
    def for_platform(cls, platform: str, base_url: str, config: Any, **kw: Any) -> HttpClient:
        """A client with the adapter config's ``request_timeout_s`` and ``max_retries``."""
        kw.setdefault("backoff", Backoff(max_retries=config.max_retries))
        return cls(platform, base_url, timeout_s=config.request_timeout_s, **kw)

    # -- the one verb ------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Send, retry as the error allows, and return the 2xx response or raise."""
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE", "HEAD")
        reauthed = False
        attempt = 0
        while True:
            try:
                return self._once(method, path, query, json_body, form, headers, auth)
            except AuthError:
                if auth is None or reauthed:
                    raise
                reauthed = True
                log.info("%s: %s %s got 401; re-authenticating once", self.platform, method, path)
                auth.invalidate()
            except PlatformError as err:
                may_retry = isinstance(err, RateLimited) or (err.retryable and idempotent)
                if not may_retry or attempt >= self.backoff.max_retries:
                    raise
                after = err.retry_after_s if isinstance(err, RateLimited) else None
                delay = self.backoff.delay_s(attempt, after)
                attempt += 1
                log.warning(
                    "%s; retry %d/%d in %.1f s", err, attempt, self.backoff.max_retries, delay
                )
                self.sleep(delay)

    # -- one try -----------------------------------------------------------------
    def _once(self, method, path, query, json_body, form, headers, auth) -> Response:  # type: ignore[no-untyped-def]
        hdrs = dict(headers or {})
        q = dict(query or {})
        if auth is not None:
            auth.apply(hdrs, q)
        self._pace()
        if self._client.is_closed:
            self._client = httpx.Client(**self._settings)
        self.requests_sent += 1
        try:
            with self._client.stream(
                method,
                path,
                params=q or None,
                json=json_body,
                data=form if json_body is None else None,
                headers=hdrs,
            ) as r:
                body = bytearray()
                for chunk in r.iter_bytes():  # at most MAX_BODY_BYTES kept
                    body += chunk[: MAX_BODY_BYTES - len(body)]
                    if len(body) >= MAX_BODY_BYTES:
                        break
        except (httpx.HTTPError, httpx.InvalidURL) as err:
            raise TransportError(self.platform, f"{method} {path}: no response ({err})") from err
        ms = r.elapsed.total_seconds() * 1000
        log.debug("%s: %s %s -> %d (%.0f ms)", self.platform, method, path, r.status_code, ms)
        response = Response(
            self.platform, method, path, r.status_code, dict(r.headers), bytes(body)
        )
        if r.is_success:
            return response
        raise self._error(response, r.reason_phrase or "error")

    def _pace(self) -> None:
        if self.limiter is None:
            return
        wait = self.limiter.wait_s(self.clock())
        if wait > 0:
            log.info("%s: %d requests in the last %.0f s; waiting %.1f s", self.platform,
                     self.limiter.max_requests, self.limiter.window_s, wait)  # fmt: skip
            self.sleep(wait)
        self.limiter.note(self.clock())

    def _error(self, r: Response, reason: str) -> PlatformError:
        try:
            parsed = json.loads(r.body) if r.body.strip() else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        code, message = self.describe(parsed) if parsed is not None else (None, None)
        if message is None:
            message = r.body[:200].decode("utf-8", "replace").strip() or reason
        detail = f"{r.method} {r.path}: {r.status}" + (f" {code}" if code else "")
        detail = redact(f"{detail}: {message}")
        if r.status == 429:
            after = retry_after(r.headers)
            return RateLimited(self.platform, detail, retry_after_s=after, code=code)
        kind = _BY_STATUS.get(r.status, ServerError if r.status >= 500 else BadRequest)
        return kind(self.platform, detail, status=r.status, code=code)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After: 12`` -> 12.0 (HTTP-date forms are ignored: backoff applies)."""
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _path_only(record: logging.LogRecord) -> bool:
    """Drops the query (Yeastar's token) from httpx's ``HTTP Request: GET <url>`` line."""
    if isinstance(record.args, tuple):
        url = (a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args)
        record.args = tuple(url)
    return True


if _path_only not in logging.getLogger("httpx").filters:
    logging.getLogger("httpx").addFilter(_path_only)
if logging.getLogger("httpcore").level == logging.NOTSET:  # its debug trace shows Set-Cookie
    logging.getLogger("httpcore").setLevel(logging.INFO)
