"""The platform adapters' exception tree: one class per thing a caller handles differently.

Every error names the platform and says what failed in words a supervisor's
admin can act on ("ringcentral: POST /restapi/v1.0/account/~/telephony/sessions/s-1/
supervise: 403 InsufficientPermissions: ... needs [CallControl]").  ``retryable``
says whether the same request may succeed if sent again later; the HTTP client
retries those with backoff, the watcher retries the rest only on a later turn,
or never (permission, conflict).  Secrets never appear in these messages.
"""

from __future__ import annotations


class PlatformError(Exception):
    """A platform request failed."""

    retryable = False

    def __init__(
        self, platform: str, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(f"{platform}: {message}")
        self.platform = platform
        self.status = status  # HTTP status, when there was a response
        self.code = code  # the platform's own error code (errorCode, errcode ...)


class TransportError(PlatformError):
    """No response: connection refused, DNS, TLS or a timeout."""

    retryable = True


class AuthError(PlatformError):
    """401, or credentials the platform rejects (bad JWT, client secret, password)."""


class PermissionDenied(PlatformError):
    """403: the user or app lacks a permission (supervise, monitoring group, scope)."""


class NotFound(PlatformError):
    """404: the call, party, group or device does not exist (any more)."""


class CallGone(NotFound):
    """The call ended before or while we acted on it (a stale uii, session or channel)."""


class Conflict(PlatformError):
    """409 or the platform's equivalent: e.g. the call already has a supervisor."""


class BadRequest(PlatformError):
    """Another 4xx, or a platform-level failure code (Yeastar ``errcode``, GWS ``statusCode``)."""


class RateLimited(PlatformError):
    """429 Too Many Requests."""

    retryable = True

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        retry_after_s: float | None = None,
        status: int | None = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(platform, message, status=status, code=code)
        self.retry_after_s = retry_after_s


class ServerError(PlatformError):
    """5xx: the platform failed; worth retrying later."""

    retryable = True


class MalformedResponse(PlatformError):
    """The response is not JSON, or lacks a field the documentation promises."""


class DeviceUnavailable(PlatformError):
    """The supervisor device is missing, not configured or not Online."""


class NotReady(PlatformError):
    """The call is not in a state that can be supervised yet (e.g. still ringing)."""

    retryable = True
