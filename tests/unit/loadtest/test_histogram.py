"""The round-trip histogram merged across load workers."""

from __future__ import annotations

import math

import pytest

from loadtest.histogram import Histogram


def test_percentiles_within_the_bucket_resolution() -> None:
    values = [0.001 * i for i in range(1, 1001)]  # 1 ms .. 1 s
    h = Histogram.of(values)
    assert h.total == 1000
    assert h.minimum == pytest.approx(0.001)
    assert h.percentile(50) == pytest.approx(0.5, rel=0.02)
    assert h.percentile(99) == pytest.approx(0.99, rel=0.02)
    assert h.count_above(0.9) == pytest.approx(100, abs=18)  # one 2 % bucket around 0.9 s
    assert math.isnan(Histogram().percentile(50))


def test_merging_equals_one_histogram_of_everything_and_survives_json() -> None:
    a = Histogram.of([0.002, 0.003, 0.004])
    b = Histogram.from_dict(Histogram.of([0.010, 0.020]).to_dict())
    a.merge(b)
    whole = Histogram.of([0.002, 0.003, 0.004, 0.010, 0.020])
    assert a.counts == whole.counts and a.total == 5 and a.minimum == 0.002
    assert Histogram.from_dict(Histogram().to_dict()).total == 0
