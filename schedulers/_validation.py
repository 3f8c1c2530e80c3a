"""Argument checks shared by the schedules; every error names the option and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Sequence


def check_unit_interval(schedule: str, option: str, value: float) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise ``ValueError``.

    Example:
        >>> check_unit_interval("fixed", "threshold", 0.5)
        0.5
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{schedule}: option '{option}' must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{schedule}: option '{option}' must be in [0, 1], got {value!r}")
    return float(value)


def check_positive_int(schedule: str, option: str, value: int) -> int:
    """Return ``value`` if it is an integer >= 1, else raise ``ValueError``.

    Example:
        >>> check_positive_int("adaptive", "window", 30)
        30
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{schedule}: option '{option}' must be an integer >= 1, got {value!r}")
    return value


def check_choice(schedule: str, option: str, value: str, allowed: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError`` listing them.

    Example:
        >>> check_choice("adaptive", "increment", "cosine", ("piecewise", "linear", "cosine"))
        'cosine'
    """
    if value not in allowed:
        raise ValueError(
            f"{schedule}: option '{option}' must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )
    return value


def check_start_target(schedule: str, start: float, target: float) -> tuple[float, float]:
    """Check that ``start`` and ``target`` are thresholds in [0, 1] with ``start <= target``.

    Example:
        >>> check_start_target("linear", 0.3, 0.8)
        (0.3, 0.8)
    """
    start = check_unit_interval(schedule, "start", start)
    target = check_unit_interval(schedule, "target", target)
    if start > target:
        raise ValueError(
            f"{schedule}: option 'start' ({start}) must not exceed option 'target' ({target})"
        )
    return start, target


def check_levels(schedule: str, option: str, levels: Sequence[Sequence[float]],
                 key: str = "from_tau") -> tuple[tuple[float, float], ...]:
    """Check a piecewise-constant function given as ``[[from_tau, value], ...]``.

    ``from_tau`` values must be in [0, 1] and strictly increasing, the first one 0, and every
    ``value`` in [0, 1]. Returned as a tuple of ``(from_tau, value)`` pairs. ``key`` names the
    first column in messages (``from_progress`` for a function of training progress).

    Example:
        >>> check_levels("adaptive", "min_hit_rate", [[0.0, 0.8], [0.6, 0.75]])
        ((0.0, 0.8), (0.6, 0.75))
    """
    try:
        pairs = tuple((float(a), float(b)) for a, b in levels)
    except (TypeError, ValueError):
        raise ValueError(
            f"{schedule}: option '{option}' must be a list of [{key}, value] pairs, got {levels!r}"
        ) from None
    if not pairs:
        raise ValueError(f"{schedule}: option '{option}' needs at least one [{key}, value] pair")
    if pairs[0][0] != 0.0:
        raise ValueError(f"{schedule}: option '{option}' must start at {key} 0.0, got {pairs[0][0]}")
    for position, (from_tau, value) in enumerate(pairs):
        check_unit_interval(schedule, f"{option}[{position}].{key}", from_tau)
        check_unit_interval(schedule, f"{option}[{position}].value", value)
        if position and from_tau <= pairs[position - 1][0]:
            raise ValueError(f"{schedule}: option '{option}' needs strictly increasing {key} values")
    return pairs


def level_at(levels: Sequence[tuple[float, float]], tau: float) -> float:
    """Value of a piecewise-constant function of tau at ``tau``.

    Example:
        >>> level_at(((0.0, 0.8), (0.6, 0.75)), 0.6)
        0.75
    """
    current = levels[0][1]
    for from_tau, value in levels:
        if tau + 1e-12 >= from_tau:
            current = value
    return current
