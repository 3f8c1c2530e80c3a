"""How far the adaptive schedule raises tau: delta(tau) for each increment mode.

- ``piecewise`` (the paper's default): a fixed increment per band of tau, e.g. 0.15 below
  0.55, 0.10 below 0.75, 0.05 above.
- ``linear`` / ``cosine``: a single ``initial_increment`` (delta_0) decayed towards
  ``min_increment`` as tau travels from ``start`` to ``target``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

INCREMENT_MODES = ("piecewise", "linear", "cosine")


def piecewise_increment(tau: float, increments: Sequence[float], breakpoints: Sequence[float]) -> float:
    """``increments[i]`` for the band of tau that starts at ``breakpoints[i - 1]``.

    Example:
        >>> piecewise_increment(0.6, (0.15, 0.10, 0.05), (0.55, 0.75))
        0.1
    """
    band = sum(tau + 1e-12 >= breakpoint for breakpoint in breakpoints)
    return increments[band]


def decayed_increment(
    tau: float, start: float, target: float, initial: float, minimum: float, mode: str
) -> float:
    """delta_0 decayed linearly or by cosine with the progress of tau from start to target.

    Example:
        >>> round(decayed_increment(0.3, 0.3, 0.8, 0.2, 0.05, "linear"), 3)
        0.2
        >>> round(decayed_increment(0.8, 0.3, 0.8, 0.2, 0.05, "cosine"), 3)
        0.05
    """
    progress = 1.0 if target <= start else min(max((tau - start) / (target - start), 0.0), 1.0)
    if mode == "linear":
        weight = 1.0 - progress
    elif mode == "cosine":
        weight = (1.0 + math.cos(math.pi * progress)) / 2.0
    else:
        raise ValueError(f"unknown decay mode {mode!r}; allowed: 'linear', 'cosine'")
    return minimum + (initial - minimum) * weight
