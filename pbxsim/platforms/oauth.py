"""The fake RingCentral token endpoint (``POST /restapi/oauth/token``), shared by the
RingCentral and RingCX fakes.

Client authentication is HTTP Basic ``client_id:client_secret``; grants are
``urn:ietf:params:oauth:grant-type:jwt-bearer`` (``assertion`` = the JWT) and
``refresh_token``.  Errors follow OAuth: 401 ``invalid_client``, 400
``invalid_grant`` / ``unsupported_grant_type``.  :meth:`TokenIssuer.revoke_all`
makes every issued access token fail with 401 (as after a password change).
"""

from __future__ import annotations

import base64
import re
import secrets
import time

from .server import Reply, Request

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(
        status,
        {
            "error": error,
            "error_description": description,
            "errors": [
                {"errorCode": "OAU-251" if status == 401 else "OAU-140", "message": description}
            ],
        },
    )


def token_invalid(message: str = "Access token corrupted") -> Reply:
    return Reply(
        401,
        {
            "errorCode": "TokenInvalid",
            "message": message,
            "errors": [{"errorCode": "OAU-213", "message": message}],
        },
    )


class TokenIssuer:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        jwt: str,
        lifetime_s: int = 3600,
        owner_id: str = "",
    ) -> None:
        self.client_id, self.client_secret, self.jwt = client_id, client_secret, jwt
        self.lifetime_s = lifetime_s
        self.owner_id = owner_id
        self.access: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self.refresh: set[str] = set()
        self.grants: list[str] = []  # grant types served, in order

    def token(self, req: Request, _m: re.Match[str]) -> Reply:
        expected = (
            "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        )
        if req.headers.get("authorization") != expected:
            return oauth_error(401, "invalid_client", "Invalid client: client_id or secret")
        form = req.form()
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            if form.get("assertion") != self.jwt:
                return oauth_error(400, "invalid_grant", "Invalid Token: the JWT is not valid")
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh:
                return oauth_error(400, "invalid_grant", "Token not found")
            self.refresh.discard(form["refresh_token"])
        else:
            return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type {grant}")
        self.grants.append(grant)
        access, refresh = "at-" + secrets.token_hex(12), "rt-" + secrets.token_hex(12)
        self.access[access] = time.monotonic() + self.lifetime_s
        self.refresh.add(refresh)
        return Reply(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.lifetime_s,
                "refresh_token": refresh,
                "refresh_token_expires_in": 604800,
                "scope": "ReadAccounts CallControl TelephonySessions",
                "owner_id": self.owner_id,
                "endpoint_id": "fake-endpoint",
            },
        )

    def check(self, req: Request) -> Reply | None:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return token_invalid("Authorization header is missing")
        expiry = self.access.get(auth[7:])
        if expiry is None:
            return token_invalid()
        if time.monotonic() > expiry:
            return token_invalid("Access token expired")
        return None

    def revoke_all(self) -> None:
        self.access.clear()
