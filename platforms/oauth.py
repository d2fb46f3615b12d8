"""RingCentral sign-in: a JWT credential exchanged for an OAuth access token, kept fresh.

``POST /restapi/oauth/token`` with ``grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer`` and the JWT as ``assertion`` (HTTP Basic client id / secret) gives
an access token (``expires_in`` seconds) and a refresh token.  Before the access
token expires (``margin_s`` ahead, on the injected clock) it is refreshed with
``grant_type=refresh_token``; when that fails, or the refresh token has expired
too, the JWT is exchanged again.  RingCX signs in the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import AuthError, BadRequest, MalformedResponse
from .http import HttpClient, basic
from .secret import Secret, from_env

log = logging.getLogger(__name__)

TOKEN_PATH = "/restapi/oauth/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Token:
    access: Secret
    expires_at_s: float  # on the auth's clock
    refresh: Secret | None
    refresh_expires_at_s: float


def parse_token(body: Any, now_s: float, platform: str) -> Token:
    """The token endpoint's JSON -> :class:`Token`; a missing field is a clear error."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise MalformedResponse(platform, f"POST {TOKEN_PATH}: no access_token in the response")
    expires = body.get("expires_in")
    if not isinstance(expires, int | float) or expires <= 0:
        raise MalformedResponse(platform, f"POST {TOKEN_PATH}: bad expires_in {expires!r}")
    refresh = body.get("refresh_token")
    refresh_in = body.get("refresh_token_expires_in", 0)
    if not isinstance(refresh_in, int | float):
        refresh_in = 0
    return Token(
        Secret(body["access_token"]),
        now_s + float(expires),
        Secret(refresh) if isinstance(refresh, str) and refresh else None,
        now_s + float(refresh_in),
    )


class RingCentralAuth:
    """An :class:`~platforms.http.Auth` adding ``Authorization: Bearer ...``."""

    def __init__(
        self,
        http: HttpClient,
        client_id: str,
        client_secret: Secret,
        jwt: Secret,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin_s: float = 120.0,
    ) -> None:
        self.http = http
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwt = jwt
        self.clock = clock
        self.margin_s = margin_s
        self.token: Token | None = None
        self.logins = 0
        self.refreshes = 0

    def apply(self, headers: dict[str, str], query: dict[str, str]) -> None:
        headers["Authorization"] = "Bearer " + self.access_token()

    def invalidate(self) -> None:
        if self.token is not None:  # the access token is dead; the refresh token may not be
            t = self.token
            self.token = Token(t.access, float("-inf"), t.refresh, t.refresh_expires_at_s)

    def access_token(self) -> str:
        now = self.clock()
        t = self.token
        if t is not None and now < t.expires_at_s - self.margin_s:
            return t.access.reveal()
        if t is not None and t.refresh is not None and now < t.refresh_expires_at_s - self.margin_s:
            try:
                self._grant({"grant_type": "refresh_token", "refresh_token": t.refresh.reveal()})
                self.refreshes += 1
                log.info("%s: access token refreshed", self.http.platform)
                return self.token.access.reveal()  # type: ignore[union-attr]
            except (AuthError, BadRequest) as err:
                log.warning(
                    "%s: token refresh refused (%s); signing in with the JWT again",
                    self.http.platform,
                    err,
                )
        self.login()
        return self.token.access.reveal()  # type: ignore[union-attr]

    def login(self) -> None:
        try:
            self._grant({"grant_type": JWT_GRANT, "assertion": self.jwt.reveal()})
        except (AuthError, BadRequest) as err:
            raise AuthError(
                self.http.platform,
                f"signing in with the JWT failed: {err}",
                status=err.status,
                code=err.code,
            ) from err
        self.logins += 1
        log.info("%s: signed in with the JWT", self.http.platform)

    def _grant(self, form: dict[str, str]) -> None:
        now = self.clock()
        r = self.http.request(
            "POST",
            TOKEN_PATH,
            form=form,
            headers={"Authorization": basic(self.client_id, self.client_secret.reveal())},
            idempotent=True,
        )
        self.token = parse_token(r.json(), now, self.http.platform)


def jwt_credentials(config: Any, environ: Mapping[str, str] | None) -> tuple[Secret, Secret]:
    """The app's client secret and the JWT, from the variables ``config`` names."""
    env = dict(environ) if environ is not None else None
    return (
        from_env(config.client_secret_env, "client_secret_env", env),
        from_env(config.jwt_env, "jwt_env", env),
    )
