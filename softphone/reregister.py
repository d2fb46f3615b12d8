"""When to register again after a refusal that PJSUA does not retry by itself.

PJSUA registers again ``retry_interval_s`` (plus up to 10 s of jitter) after a REGISTER
that timed out or met a failing registrar: 408, 480, 500, 502, 503, 504, 6xx.  Any
other refusal (403, 404, a 401 after the credentials...) leaves the account
unregistered for good, so a platform that answers 404 while it comes back up would
lose the device until a restart.  :class:`Reregister` schedules those again, after
``retry_interval_s`` doubling up to ``register_expires_s``; a success resets it.
Sans-I/O: the device thread feeds it registrations and asks :meth:`due` each turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from records.device import RegistrationChanged

PJSUA_RETRIES = frozenset({408, 480, 500, 502, 503, 504})


def pjsua_retries(code: int) -> bool:
    return code in PJSUA_RETRIES or code // 100 == 6


@dataclass(slots=True)
class Reregister:
    first_s: float  # the first delay (retry_interval_s)
    cap_s: float  # the longest (register_expires_s)
    delay_s: float = 0.0  # the last delay; 0: none since the last success
    due_at: float | None = None  # when to register again (monotonic seconds)

    def on_registration(self, event: RegistrationChanged, now_s: float) -> None:
        if event.registered or event.code < 300:
            self.delay_s, self.due_at = 0.0, None
        elif pjsua_retries(event.code):
            self.due_at = None  # PJSUA's own retry timer runs
        else:
            self.delay_s = min(self.cap_s, self.delay_s * 2 if self.delay_s else self.first_s)
            self.due_at = now_s + self.delay_s

    def due(self, now_s: float) -> bool:
        """True once per scheduled retry, when its time has come."""
        if self.due_at is None or now_s < self.due_at:
            return False
        self.due_at = None
        return True
