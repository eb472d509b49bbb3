from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prospectpro_pl import anomaly
from prospectpro_pl.anomaly import Detection


def test_the_robust_detector_is_the_default():
    assert anomaly.DEFAULT_DETECTOR == "median_mad"
    assert anomaly.detect(anomaly.DEFAULT_DETECTOR, 100, [10, 10, 10]).detector == "median_mad"


def test_mean_ratio_is_the_seeds_rule():
    assert anomaly.mean_ratio(30, [10, 20, 30]) == Detection(False, 20.0, 60.0, "mean_ratio")
    assert anomaly.mean_ratio(60.01, [10, 20, 30]).is_anomaly
    assert not anomaly.mean_ratio(60, [10, 20, 30]).is_anomaly  # not more than 3 × mean
    assert anomaly.mean_ratio(41, [10, 20, 30], factor=2.0).is_anomaly


@pytest.mark.parametrize("detector", ["mean_ratio", "median_mad"])
def test_too_little_history_is_no_anomaly(detector):
    assert anomaly.detect(detector, 1e6, [1, 1]) == Detection(False, None, None, detector)
    assert anomaly.detect(detector, 1e6, [1], min_history=1).is_anomaly
    with pytest.raises(ValueError, match="min_history must be at least 1, got 0"):
        anomaly.detect(detector, 1, [1], min_history=0)


def test_median_mad_threshold_is_the_largest_of_its_three_bounds():
    # median 12, MAD 2: the modified z-score bound 12 + 3.5 × 1.4826 × 2 wins
    spread = anomaly.median_mad(30, [10, 12, 14, 8, 16], factor=1.5)
    assert spread.baseline == 12
    assert spread.threshold == pytest.approx(22.3782)
    assert spread.is_anomaly
    # a flat history has no spread: the ratio bound keeps 11 from being one
    flat = anomaly.median_mad(11, [10, 10, 10, 10])
    assert flat == Detection(False, 10.0, 30.0, "median_mad")
    # a history of no spend: the absolute floor keeps a few cents from being one
    idle = anomaly.median_mad(0.5, [0, 0, 0])
    assert idle == Detection(False, 0.0, 1.0, "median_mad")
    assert anomaly.median_mad(1.01, [0, 0, 0]).is_anomaly


def test_one_early_spike_hides_an_anomaly_from_mean_ratio_only():
    history = [500, 10, 12, 11, 9, 10, 11]
    assert not anomaly.mean_ratio(60, history).is_anomaly  # mean 80.4: threshold 241
    robust = anomaly.median_mad(60, history)
    assert robust.is_anomaly
    assert robust.baseline == 11


def test_detectors_take_database_numbers():
    history = [Decimal("10.00"), Decimal("10.50"), Decimal("9.50")]
    assert anomaly.detect("mean_ratio", Decimal("31.00"), history).is_anomaly
    assert anomaly.detect("median_mad", Decimal("31.00"), history).is_anomaly


def test_detect_refuses_an_unknown_detector():
    with pytest.raises(
        ValueError, match="unknown anomaly detector 'ewma': expected one of mean_ratio, median_mad"
    ):
        anomaly.detect("ewma", 1, [1, 2, 3])


normal = st.floats(10, 12)


@given(
    st.lists(normal, min_size=3, max_size=20),
    st.floats(1000, 1e7),
    st.sampled_from(list(anomaly.DETECTORS)),
    normal,
)
def test_after_an_early_spike_a_normal_window_is_no_anomaly(history, spike, detector, current):
    assert not anomaly.detect(detector, current, [spike, *history]).is_anomaly


@given(st.lists(normal, min_size=3, max_size=20), st.floats(1000, 1e7))
def test_after_an_early_spike_only_the_robust_detector_sees_a_real_anomaly(history, spike):
    history = [spike, *history]
    current = 50.0  # four times the usual spend
    assert anomaly.median_mad(current, history).is_anomaly
    assert not anomaly.mean_ratio(current, history).is_anomaly


@given(st.lists(st.floats(0, 1e6), min_size=3, max_size=30), st.floats(0, 1e6))
def test_median_mad_never_flags_less_than_factor_times_the_median(history, current):
    result = anomaly.median_mad(current, history)
    assert result.threshold >= 3 * result.baseline
    assert result.threshold >= result.baseline + 1
    assert result.is_anomaly == (current > result.threshold)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("49.99", None),
        ("50.00", None),
        ("50.01", 0),
        (Decimal("99.99"), 0),
        (100, 1),
        (149.99, 1),
        (150, 2),
        (249.99, 2),
        (250, 3),
        (450, 4),
    ],
)
def test_escalation_level_doubles_the_excess(value, level):
    assert anomaly.escalation_level(Decimal("50.00"), value) == level


def test_escalation_unit_can_be_set():
    levels = [anomaly.escalation_level(10, v, unit=1) for v in (10, 10.5, 11, 12, 14, 18)]
    assert levels == [None, 0, 1, 2, 3, 4]
    assert anomaly.escalation_level(0, 0, unit="0.5") is None
    assert anomaly.escalation_level(0, "0.01", unit="0.5") == 0
    with pytest.raises(ValueError, match="escalation unit must be positive"):
        anomaly.escalation_level(0, 5)


def test_escalation_starts_a_cent_above_the_threshold_not_at_it():
    assert anomaly.escalation_level("50.00", Decimal("49.99")) is None
    assert anomaly.escalation_level("50.00", Decimal("50.00")) is None
    assert anomaly.escalation_level("50.00", Decimal("50.01")) == 0
    # a float is taken as written, 0.1, not as its binary expansion 0.1000000000000000055...
    assert anomaly.escalation_level(0.1, Decimal("0.1")) is None
    assert anomaly.escalation_level(0.1, Decimal("0.1001")) == 0
