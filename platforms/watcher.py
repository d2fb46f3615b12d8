"""The auto-supervise loop: poll the platform, let the policy decide, act, repeat.

All I/O goes through the adapter; time goes through the injected ``clock`` and
``sleep`` (pass ``threading.Event().wait`` to make the loop stop promptly, a
recorder in tests).  One failing request never stops the loop: platform errors
become one log line each and, where the policy says so, a later retry; an
unexpected exception is logged with its traceback and the loop goes on.

The device's events come in through :meth:`Watcher.device_event` (any thread):
answered legs are paired with the call they supervise (directly when the INVITE
names it, through :class:`~platforms.matching.InviteMatcher` when it
does not) and tell the policy when a supervision's legs have all ended.
Party roles learnt from the platform go to the device's
:class:`~softphone.admission.PartyRoles` before the request is sent, so the
INVITE is labelled ``agent`` / ``customer`` as it arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from records.device import LegAnswered, LegEnded
from softphone.admission import PartyRoles

from .base import LiveCall, Platform, Supervision
from .errors import CallGone, Conflict, NotReady, PermissionDenied, PlatformError
from .matching import InviteMatcher
from .policy import Release, Supervise, SupervisePolicy

log = logging.getLogger(__name__)

MAX_POLL_BACKOFF_S = 60.0


class Watcher:
    def __init__(
        self,
        platform: Platform,
        policy: SupervisePolicy | None = None,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        roles: PartyRoles | None = None,
        matcher: InviteMatcher | None = None,
    ) -> None:
        self.platform = platform
        self.policy = policy or SupervisePolicy()
        self.interval_s = interval_s
        self.clock = clock
        self.sleep = sleep
        self.roles = roles
        self.matcher = matcher or InviteMatcher()
        self._device_events: deque[LegAnswered | LegEnded] = deque(maxlen=4096)
        self._legs: dict[str, set[str]] = {}  # SIP session -> open legs
        self._sip_to_call: dict[str, str] = {}  # open SIP sessions -> platform call
        self._names: OrderedDict[str, str] = OrderedDict()  # bounded, outlives the legs
        self._lock = threading.Lock()
        self.opened = threading.Event()  # set once the adapter is open (run() started)
        self.poll_failures = 0  # consecutive
        self.supervised = 0
        self.failures = 0

    # -- the loop ----------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool], open_platform: bool = True) -> None:
        """Open the platform (unless the caller did), then step every ``interval_s`` until
        ``should_stop()``; close on the way out."""
        if open_platform:
            self.platform.open()
        self.opened.set()
        try:
            while not should_stop():
                self.step()
                if should_stop():
                    break
                self.sleep(self.pause_s())
        finally:
            self.close()

    def pause_s(self) -> float:
        """The interval, doubled per consecutive failed poll (capped)."""
        if not self.poll_failures:
            return self.interval_s
        return min(MAX_POLL_BACKOFF_S, self.interval_s * 2 ** min(self.poll_failures, 10))

    def step(self) -> None:
        self._drain_device_events()
        try:
            obs = self.platform.poll()
        except PlatformError as err:
            self.poll_failures += 1
            log.warning("%s: listing calls failed: %s", self.platform.name, err)
            return
        except Exception:
            self.poll_failures += 1
            log.exception("%s: listing calls failed unexpectedly", self.platform.name)
            return
        self.poll_failures = 0
        for action in self.policy.observe(obs, self.clock()):
            self._act(action)

    def close(self) -> None:
        """Stop every active supervision (best effort), then close the adapter."""
        for sup in self.policy.active():
            try:
                self.platform.stop(sup)
                log.info("%s: stopped supervising call %s", self.platform.name, sup.call_id)
            except PlatformError as err:
                log.warning("%s: stopping call %s: %s", self.platform.name, sup.call_id, err)
            except Exception:
                log.exception("%s: stopping call %s failed", self.platform.name, sup.call_id)
        try:
            self.platform.close()
        except Exception:
            log.exception("%s: closing the adapter failed", self.platform.name)

    # -- actions -------------------------------------------------------------------
    def _act(self, action: Supervise | Release) -> None:
        if isinstance(action, Release):
            log.info(
                "%s: call %s: supervision over (%s)",
                self.platform.name,
                action.supervision.call_id,
                action.reason,
            )
            return
        try:
            self.supervise(action.call)
        except Exception:
            log.exception(
                "%s: call %s: supervising failed unexpectedly",
                self.platform.name,
                action.call.call_id,
            )
            self.policy.failed(action.call.call_id, self.clock(), permanent=True)

    def supervise(self, call: LiveCall) -> Supervision | None:
        """Prepare and send one supervise request; errors are logged and told to the policy."""
        name, now = self.platform.name, self.clock()
        expecting = False
        try:
            call = self.platform.prepare(call)
            self.policy.prepared(call)
            if self.roles is not None:
                for party in call.parties:
                    if party.role:
                        self.roles.set(call.call_id, party.party_id, party.role)
            if not self.platform.invite_names_call:
                with self._lock:
                    self.matcher.expect(call.call_id, now, call.hint)
                expecting = True
            sup = self.platform.supervise(call)
        except CallGone as err:
            self._cancel(call, expecting)
            log.info(
                "%s: call %s ended before it could be supervised (%s)", name, call.call_id, err
            )
            self.policy.ended(call.call_id, "gone")
            return None
        except NotReady as err:
            self._cancel(call, expecting)
            log.info("%s: call %s: not yet (%s)", name, call.call_id, err)
            self.policy.deferred(call.call_id, now)
            return None
        except (Conflict, PermissionDenied) as err:
            self._cancel(call, expecting)
            self.failures += 1
            log.error("%s: call %s: not supervised: %s", name, call.call_id, err)
            self.policy.failed(call.call_id, now, permanent=True)
            return None
        except PlatformError as err:
            self._cancel(call, expecting)
            self.failures += 1
            again = self.policy.failed(call.call_id, now)
            log.warning(
                "%s: call %s: supervise failed: %s%s",
                name,
                call.call_id,
                err,
                "; will retry" if again else "; giving up",
            )
            return None
        self.supervised += 1
        self.policy.succeeded(sup)
        if sup.session_id:
            with self._lock:
                self._name(sup.session_id, sup.call_id)
        log.info(
            "%s: supervising call %s of agent %s (%d leg%s)",
            name,
            call.call_id,
            call.agent,
            sup.legs,
            "" if sup.legs == 1 else "s",
        )
        return sup

    def _cancel(self, call: LiveCall, expecting: bool) -> None:
        if expecting:
            with self._lock:
                self.matcher.cancel(call.call_id)

    # -- device side -----------------------------------------------------------------
    def device_event(self, event: object) -> None:
        """Hand the device's LegAnswered / LegEnded here (any thread)."""
        if isinstance(event, LegAnswered):
            # bind at once: the pipeline's events for this session may follow quickly
            self._bind(event)
        if isinstance(event, LegAnswered | LegEnded):
            self._device_events.append(event)

    def call_for(self, sip_session: str) -> str | None:
        """The platform call a SIP session supervises (for renaming events), if known."""
        with self._lock:
            return self._names.get(sip_session)

    def _name(self, sip_session: str, call_id: str) -> None:
        self._sip_to_call[sip_session] = call_id
        self._names[sip_session] = call_id
        while len(self._names) > 1024:
            self._names.popitem(last=False)

    def _bind(self, event: LegAnswered) -> None:
        with self._lock:
            if event.session_id in self._sip_to_call:
                return
            if self.platform.invite_names_call:  # RingCentral: the session id is the call id
                self._name(event.session_id, event.session_id)
            else:
                caller = event.streams[0].party_id if event.streams else None
                call_id = self.matcher.answered(event.session_id, caller, self.clock())
                if call_id is None:
                    log.warning(
                        "%s: SIP session %s matches no supervise request",
                        self.platform.name,
                        event.session_id,
                    )
                    return
                self._name(event.session_id, call_id)
                log.info(
                    "%s: SIP session %s is call %s", self.platform.name, event.session_id, call_id
                )

    def _drain_device_events(self) -> None:
        while self._device_events:
            event = self._device_events.popleft()
            if isinstance(event, LegAnswered):
                self._legs.setdefault(event.session_id, set()).add(event.leg)
                continue
            legs = self._legs.get(event.session_id)
            if legs is None:
                continue
            legs.discard(event.leg)
            if legs:
                continue
            del self._legs[event.session_id]
            with self._lock:
                call_id = self._sip_to_call.pop(event.session_id, None)
                self.matcher.forget(event.session_id)
            if call_id is not None:
                self.policy.released(call_id)
