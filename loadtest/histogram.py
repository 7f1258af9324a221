"""A compact histogram of durations (2 % buckets): merged across load workers, it gives
percentiles and the share of values above a threshold without shipping every sample."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

RATIO = 1.02  # bucket width: 2 % of the value
_LOG = math.log(RATIO)


def _bucket(seconds: float) -> int:
    micro = max(1.0, seconds * 1e6)
    return int(math.log(micro) / _LOG)


def _value(bucket: int) -> float:
    """Bucket midpoint, seconds."""
    return RATIO ** (bucket + 0.5) / 1e6


@dataclass
class Histogram:
    counts: dict[int, int] = field(default_factory=dict)
    minimum: float = math.inf
    total: int = 0

    def add(self, seconds: float) -> None:
        b = _bucket(seconds)
        self.counts[b] = self.counts.get(b, 0) + 1
        self.total += 1
        if seconds < self.minimum:
            self.minimum = seconds

    def merge(self, other: Histogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)

    def percentile(self, p: float) -> float:
        """Seconds; NaN when empty."""
        if not self.total:
            return math.nan
        rank = min(self.total - 1, round(p / 100 * (self.total - 1)))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen > rank:
                return max(self.minimum, _value(b))
        return math.nan  # pragma: no cover - counts and total disagree

    def count_above(self, seconds: float) -> int:
        """Values above ``seconds`` (to the bucket's resolution)."""
        return sum(n for b, n in self.counts.items() if _value(b) > seconds)

    def to_dict(self) -> dict[str, object]:
        return {"counts": {str(b): n for b, n in self.counts.items()},
                "minimum": self.minimum if math.isfinite(self.minimum) else None,
                "total": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Histogram:
        counts_raw = data.get("counts") or {}
        assert isinstance(counts_raw, Mapping)
        counts = {int(b): int(n) for b, n in counts_raw.items()}
        minimum = data.get("minimum")
        total = data.get("total", sum(counts.values()))
        return cls(counts, float(minimum) if isinstance(minimum, int | float) else math.inf,
                   int(total) if isinstance(total, int | float) else sum(counts.values()))

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        h = cls()
        for v in values:
            h.add(v)
        return h
