"""Cost anomaly detection and threshold crossing, as pure functions.

A detector compares the spend of the current window (say, today) with the
spends of the trailing windows before it (history, oldest first; the current
window not included) and returns a Detection. Two detectors:

mean_ratio
    The classic rule: anomaly when current > factor × mean(history). One huge
    early spike inflates the mean for as long as it stays in the history, and
    hides every real anomaly meanwhile.
median_mad (DEFAULT_DETECTOR)
    Robust: the median and the median absolute deviation (MAD) ignore a spike
    in up to half of the history. Anomaly when current exceeds all of
        median + z × 1.4826 × MAD   (modified z-score above z; 1.4826 × MAD
                                     estimates the standard deviation)
        factor × median             (a large jump relative to the usual spend)
        median + min_excess         (an absolute floor in currency units)
    The last two keep a flat history (MAD 0) from flagging every small
    increase, and a history of zero spend from flagging a few cents.

With fewer than min_history windows there is no baseline yet, and no anomaly.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .payloads import amount

DEFAULT_DETECTOR = "median_mad"
DEFAULT_FACTOR = 3.0
DEFAULT_MIN_HISTORY = 3
# Iglewicz and Hoaglin's cut-off for the modified z-score.
DEFAULT_Z = 3.5
DEFAULT_MIN_EXCESS = 1.0
# Scales the MAD to the standard deviation for normally distributed data.
MAD_TO_SIGMA = 1.4826

Number = Decimal | float | int


@dataclass(frozen=True)
class Detection:
    is_anomaly: bool
    baseline: float | None  # the usual spend; None without enough history
    threshold: float | None  # spend above this is an anomaly
    detector: str


def mean_ratio(
    current: Number,
    history: Sequence[Number],
    factor: float = DEFAULT_FACTOR,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> Detection:
    """Anomaly when current > factor × mean(history)."""
    values = _history(history, min_history)
    if values is None:
        return Detection(False, None, None, "mean_ratio")
    baseline = statistics.fmean(values)
    return _verdict(current, baseline, factor * baseline, "mean_ratio")


def median_mad(
    current: Number,
    history: Sequence[Number],
    z: float = DEFAULT_Z,
    factor: float = DEFAULT_FACTOR,
    min_excess: float = DEFAULT_MIN_EXCESS,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> Detection:
    """Anomaly when current exceeds the median by z robust deviations, factor and min_excess."""
    values = _history(history, min_history)
    if values is None:
        return Detection(False, None, None, "median_mad")
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    threshold = max(median + z * MAD_TO_SIGMA * mad, factor * median, median + min_excess)
    return _verdict(current, median, threshold, "median_mad")


DETECTORS: dict[str, Callable[..., Detection]] = {
    "mean_ratio": mean_ratio,
    "median_mad": median_mad,
}


def detect(name: str, current: Number, history: Sequence[Number], **params: float) -> Detection:
    """Run the detector called ``name``; params are its keyword arguments."""
    try:
        detector = DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown anomaly detector {name!r}: expected one of {', '.join(DETECTORS)}"
        ) from None
    return detector(current, history, **params)


def _history(history: Sequence[Number], min_history: int) -> list[float] | None:
    if min_history < 1:
        raise ValueError(f"min_history must be at least 1, got {min_history}")
    values = [float(v) for v in history]
    return values if len(values) >= min_history else None


def _verdict(current: Number, baseline: float, threshold: float, detector: str) -> Detection:
    return Detection(float(current) > threshold, baseline, threshold, detector)


def escalation_level(
    threshold: Number | str, value: Number | str, unit: Number | None = None
) -> int | None:
    """How far ``value`` exceeds ``threshold``: None up to it, else 0, 1, 2, ...

    Level 0 once the value exceeds the threshold (value > threshold, compared
    exactly as Decimals: an alert always has a positive excess); each further
    level once the excess over the threshold has doubled again: level n >= 1
    when excess >= unit × 2^(n-1). ``unit`` defaults to the threshold, so a
    $50 limit alerts above $50 and escalates at $100, $150, $250, $450, ...
    """
    limit, value = amount(threshold), amount(value)
    if value <= limit:
        return None
    step = limit if unit is None else amount(unit)
    if step <= 0:
        raise ValueError(
            f"escalation unit must be positive (pass unit for a zero threshold), got {step}"
        )
    level, excess = 0, value - limit
    while excess >= step:
        level += 1
        step *= 2
    return level
