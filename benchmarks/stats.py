"""Timing helpers: medians and percentiles over repeated runs."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager


def median(values) -> float:
    return statistics.median(values)


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Timer:
    """Collects durations of a repeated block, in seconds."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @contextmanager
    def time(self):
        start = time.perf_counter()
        yield
        self.samples.append(time.perf_counter() - start)

    @property
    def median(self) -> float:
        return median(self.samples)
