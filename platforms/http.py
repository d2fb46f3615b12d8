"""A small JSON-over-HTTP client (stdlib urllib) shared by the platform adapters.

It turns every failure into a typed :mod:`~platforms.errors` error that
names the platform, the request and what the platform said (its own error code
and message, found by a per-platform ``describe`` function), retries what is
worth retrying (429 honouring ``Retry-After``, 5xx and no response for idempotent
requests) with :class:`~platforms.pacing.Backoff` through an injected
``sleep``, keeps under a :class:`~platforms.pacing.RateLimiter`, and
re-authenticates once on 401.  Log lines name the method and path only: query
strings (where Yeastar puts its token) and headers are never logged.

One client is used from one thread at a time.
"""

from __future__ import annotations

import base64
import http.client
import http.cookiejar
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

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

MAX_BODY_BYTES = 8 << 20
Describe = Callable[[Any], tuple[str | None, str | None]]  # error body -> (code, message)


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
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.clock = clock
        self.limiter = limiter
        self.describe = describe
        self.user_agent = user_agent
        self.cookies = http.cookiejar.CookieJar()  # GWS keeps its session in a cookie
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPCookieProcessor(self.cookies)
        ]
        if ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
        self._opener = urllib.request.build_opener(*handlers)
        self.requests_sent = 0

    # -- the one verb ------------------------------------------------------------

    @classmethod
    def for_platform(
        cls,
        platform: str,
        base_url: str,
        config: Any,
        *,
        sleep: Callable[[float], object],
        clock: Callable[[], float],
        **kw: Any,
    ) -> HttpClient:
        """A client with the adapter config's ``request_timeout_s`` and ``max_retries``."""
        kw.setdefault("backoff", Backoff(max_retries=config.max_retries))
        return cls(
            platform, base_url, timeout_s=config.request_timeout_s, sleep=sleep, clock=clock, **kw
        )

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
                continue
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
        hdrs = {"Accept": "application/json", "User-Agent": self.user_agent}
        hdrs.update(headers or {})
        q = dict(query or {})
        if auth is not None:
            auth.apply(hdrs, q)
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif method in ("POST", "PUT", "PATCH"):
            data = b""
        url = self.base_url + path + ("?" + urllib.parse.urlencode(q) if q else "")
        if self.limiter is not None:
            wait = self.limiter.wait_s(self.clock())
            if wait > 0:
                log.info(
                    "%s: %d requests in the last %.0f s; waiting %.1f s",
                    self.platform,
                    self.limiter.max_requests,
                    self.limiter.window_s,
                    wait,
                )
                self.sleep(wait)
            self.limiter.note(self.clock())
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        self.requests_sent += 1
        t0 = time.monotonic()
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                status = resp.status
                body = resp.read(MAX_BODY_BYTES)
                rheaders = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            status = err.code
            body = err.read(MAX_BODY_BYTES) if err.fp is not None else b""
            rheaders = {k.lower(): v for k, v in (err.headers or {}).items()}
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise TransportError(self.platform, f"{method} {path}: no response ({reason})") from err
        log.debug(
            "%s: %s %s -> %d (%.0f ms)",
            self.platform,
            method,
            path,
            status,
            (time.monotonic() - t0) * 1000,
        )
        response = Response(self.platform, method, path, status, rheaders, body)
        if 200 <= status < 300:
            return response
        raise self._error(response)

    def _error(self, r: Response) -> PlatformError:
        try:
            parsed = json.loads(r.body) if r.body.strip() else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        code, message = self.describe(parsed) if parsed is not None else (None, None)
        if message is None:
            text = r.body[:200].decode("utf-8", "replace").strip()
            message = text if text else http.client.responses.get(r.status, "error")
        detail = f"{r.method} {r.path}: {r.status}" + (f" {code}" if code else "")
        detail = redact(f"{detail}: {message}")
        kw = {"status": r.status, "code": code}
        if r.status == 401:
            return AuthError(self.platform, detail, **kw)  # type: ignore[arg-type]
        if r.status == 403:
            return PermissionDenied(self.platform, detail, **kw)  # type: ignore[arg-type]
        if r.status == 404:
            return NotFound(self.platform, detail, **kw)  # type: ignore[arg-type]
        if r.status == 409:
            return Conflict(self.platform, detail, **kw)  # type: ignore[arg-type]
        if r.status == 429:
            return RateLimited(
                self.platform, detail, retry_after_s=retry_after(r.headers), code=code
            )
        if r.status >= 500:
            return ServerError(self.platform, detail, **kw)  # type: ignore[arg-type]
        return BadRequest(self.platform, detail, **kw)  # type: ignore[arg-type]


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After: 12`` -> 12.0 (HTTP-date forms are ignored: backoff applies)."""
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
