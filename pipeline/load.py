"""Is the ASR keeping up?  A sans-I/O gate for admitting new calls.

:class:`LoadGate` turns the pipeline's load figures (:class:`Load`: how long the
oldest waiting final has waited, how many finals wait) into a yes/no for new
calls.  It trips when either figure passes its limit and clears only once both
are back under ``clear_fraction`` of their limits *and* ``hold_s`` has passed
since it tripped (hysteresis), so admission does not flap around a threshold.
Time is passed in (``now_s``); the gate has one owner (the SIP device thread).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Load:
    """The pipeline's load now: lag of the oldest waiting final, finals waiting."""

    lag_ms: float = 0.0  # call-clock ms since the oldest waiting final was queued
    queued_finals: int = 0


@dataclass(frozen=True, slots=True)
class LoadConfig:
    max_lag_ms: float = 3000.0  # 0: lag is not checked
    max_queued_finals: int = 4  # 0: depth is not checked (the CLI default: 2 x --workers)
    clear_fraction: float = 0.5  # both figures under this share of their limit to clear
    hold_s: float = 5.0  # stay tripped at least this long

    def __post_init__(self) -> None:
        if self.max_lag_ms < 0 or self.max_queued_finals < 0 or self.hold_s < 0:
            raise ValueError("max_lag_ms, max_queued_finals and hold_s must be >= 0")
        if not 0.0 <= self.clear_fraction <= 1.0:
            raise ValueError("clear_fraction must be within 0..1")


def over_budget(cfg: LoadConfig, lag_ms: float, queued: int, fraction: float = 1.0) -> str | None:
    """Why these figures pass ``fraction`` of the limits (no hysteresis), or None."""
    if cfg.max_lag_ms and lag_ms > cfg.max_lag_ms * fraction:
        return f"ASR overloaded: lag {lag_ms:.0f} ms > {cfg.max_lag_ms:.0f} ms"
    if cfg.max_queued_finals and queued > cfg.max_queued_finals * fraction:
        return f"ASR overloaded: {queued} finals queued > {cfg.max_queued_finals}"
    return None


class LoadGate:
    """``update`` with each reading; ``overloaded`` is the reason to refuse, or None."""

    def __init__(self, config: LoadConfig | None = None) -> None:
        self.config = config or LoadConfig()
        self.overloaded: str | None = None
        self.tripped_at: float | None = None
        self.trips = 0  # times the gate closed

    def _over(self, lag_ms: float, queued: int, fraction: float) -> str | None:
        return over_budget(self.config, lag_ms, queued, fraction)

    def update(self, lag_ms: float, queued: int, now_s: float) -> str | None:
        """Take a reading at ``now_s``; the reason new calls are refused, or None."""
        over = self._over(lag_ms, queued, 1.0)
        if self.overloaded is None:
            if over is not None:
                self.overloaded, self.tripped_at = over, now_s
                self.trips += 1
            return self.overloaded
        if over is not None:
            self.overloaded = over  # the figures of now
            return self.overloaded
        assert self.tripped_at is not None
        held = now_s - self.tripped_at >= self.config.hold_s
        if held and self._over(lag_ms, queued, self.config.clear_fraction) is None:
            self.overloaded = self.tripped_at = None
        return self.overloaded
