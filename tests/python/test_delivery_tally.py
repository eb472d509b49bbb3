"""The round's tally for the monotonic counters: each attempt counted once per
webhook type, by outcome, into the first latency bucket at or above its
latency (Prometheus's `le`), the last bucket taking what is above every bound."""

from __future__ import annotations

import pytest
from prospectpro_pl.delivery import tally

BOUNDS = [0.005, 0.01, 0.025]


def test_each_attempt_lands_in_the_first_bucket_at_or_above_its_latency():
    totals = tally(
        BOUNDS,
        ["cost_alert", "cost_alert", "cost_alert", "cost_alert", "lead_enrichment"],
        ["success", "failed", "success", "failed", "success"],
        [5.0, 5.1, 25.0, 100.0, 1.0],  # ms: on a bound, just above, on the last, above all
    )
    succeeded, failed, seconds, buckets = totals["cost_alert"]
    assert (succeeded, failed, buckets) == (2, 2, [1, 1, 1, 1])
    assert seconds == pytest.approx(0.1351)
    assert totals["lead_enrichment"][:2] == [1, 0]
    assert totals["lead_enrichment"][3] == [1, 0, 0, 0]


def test_a_round_without_attempts_counts_nothing():
    assert tally(BOUNDS, [], [], []) == {}
