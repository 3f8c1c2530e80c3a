"""Paired statistics for the schedule study and the simulator: mean, 95% t-interval, sign count.

A learning claim compares two arms seed by seed (same warm start, same held-out rows): the n
paired differences d_i give ``mean ± t(0.975, n - 1) * sd / sqrt(n)``. The t quantiles come from
a table (df 1..30, then 40, 60, 120 and the normal limit), so neither scipy nor any other
dependency is needed.

Example:
    >>> summary = paired_summary([0.019, 0.017, 0.003])
    >>> round(summary["mean"], 4), round(summary["low"], 4), round(summary["high"], 4), summary["positive"]
    (0.013, -0.0087, 0.0347, 3)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
    20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
    29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}
"""Two-sided 95% quantiles t(0.975, df) of Student's t distribution."""
NORMAL_975 = 1.959964


def t_quantile_975(df: int) -> float:
    """t(0.975, df): from the table, the next smaller tabled df above 30 (conservative), 1.96 beyond 120.

    Example:
        >>> t_quantile_975(4), t_quantile_975(45), t_quantile_975(1000)
        (2.776, 2.021, 1.959964)
    """
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be an integer >= 1, got {df!r}")
    if df in T_975:
        return T_975[df]
    if df > 120:
        return NORMAL_975
    return T_975[max(key for key in T_975 if key <= df)]


def paired_summary(differences: Sequence[float]) -> dict[str, float | int]:
    """Mean, 95% t-interval (``low``, ``high``; equal to the mean for one value), sd, n and the count of
    positive and negative differences, of paired differences (NaN and None are dropped).

    Example:
        >>> summary = paired_summary([0.01, 0.02, 0.03, -0.01, 0.02])
        >>> round(summary["low"], 4), round(summary["high"], 4), summary["positive"], summary["negative"]
        (-0.0048, 0.0328, 4, 1)
    """
    values = [float(v) for v in differences if v is not None and not math.isnan(v)]
    n = len(values)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "sd": nan, "low": nan, "high": nan, "n": 0, "positive": 0, "negative": 0}
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * sd / math.sqrt(n) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "n": n,
            "positive": sum(v > 0 for v in values), "negative": sum(v < 0 for v in values)}


def format_paired(summary: dict[str, float | int], digits: int = 3) -> str:
    """``+0.013 [-0.009, +0.035] 3/3+`` : mean, 95% interval and the share of positive differences.

    Example:
        >>> format_paired(paired_summary([0.019, 0.017, 0.003]))
        '+0.013 [-0.009, +0.035] 3/3+'
    """
    if not summary["n"]:
        return "n/a"
    return (f"{summary['mean']:+.{digits}f} [{summary['low']:+.{digits}f}, {summary['high']:+.{digits}f}] "
            f"{summary['positive']}/{summary['n']}+")
