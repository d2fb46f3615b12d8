"""Platform adapters: start supervision on RingCentral, RingCX, Genesys and Yeastar.

:func:`platform_config` builds a platform's checked config from its TOML table,
:func:`make_platform` the adapter (secrets read from the environment variables
the config names), and :class:`~platforms.watcher.Watcher` runs the
auto-supervise :class:`~platforms.policy.SupervisePolicy` against it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import CallParty, LiveCall, Observation, Platform, Supervision
from .config import (
    GenesysConfig,
    PlatformConfig,
    PlatformConfigError,
    RingCentralConfig,
    RingCXConfig,
    YeastarConfig,
    platform_config,
)
from .errors import PlatformError
from .matching import InviteMatcher
from .policy import PolicyConfig, SupervisePolicy
from .watcher import Watcher

__all__ = [
    "CallParty",
    "GenesysConfig",
    "InviteMatcher",
    "LiveCall",
    "Observation",
    "Platform",
    "PlatformConfig",
    "PlatformConfigError",
    "PlatformError",
    "PolicyConfig",
    "RingCXConfig",
    "RingCentralConfig",
    "SupervisePolicy",
    "Supervision",
    "Watcher",
    "YeastarConfig",
    "make_platform",
    "platform_config",
    "watcher_for",
]


def make_platform(
    config: PlatformConfig,
    environ: Mapping[str, str] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Platform:
    """The adapter for ``config``; raises :class:`~.secret.MissingSecret` for an unset secret."""
    if isinstance(config, RingCentralConfig):
        from .ringcentral import RingCentral

        return RingCentral.from_config(config, environ, clock=clock, sleep=sleep)
    if isinstance(config, RingCXConfig):
        from .ringcx import RingCX

        return RingCX.from_config(config, environ, clock=clock, sleep=sleep)
    if isinstance(config, GenesysConfig):
        from .genesys import Genesys

        return Genesys.from_config(config, environ, clock=clock, sleep=sleep)
    from .yeastar import Yeastar

    return Yeastar.from_config(config, environ, clock=clock, sleep=sleep)


def watcher_for(
    platform: Platform, config: PlatformConfig, capacity: int = 4, **kw: Any
) -> Watcher:
    """A watcher with the platform's interval, call limit (``max_device_calls``, else the
    ``capacity`` in SIP calls of the host's devices) and pairing window."""
    window = getattr(config, "match_window_s", 15.0)
    calls = config.max_device_calls or capacity
    policy = SupervisePolicy(PolicyConfig(max_device_calls=calls))
    return Watcher(
        platform, policy, interval_s=platform.interval_s, matcher=InviteMatcher(window), **kw
    )
