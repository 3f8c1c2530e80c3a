"""``KEY=VALUE`` options of the command line (``--grpo``, ``--schedule-option``, ``--data-option``,
``medloc data convert -o`` and the experiment scripts): one parser, one set of rules.

- the key is stripped and its dashes read as underscores (``min-margin`` is ``min_margin``);
- the value is a YAML scalar (numbers, ``true``/``false``, lists such as ``[[0, 0.8]]``; anything
  else stays a string), and a string that is a plain number becomes that number (YAML 1.1 reads
  ``1e-4`` as a string);
- an empty value is the empty string; a pair without ``=`` or without a key is an error naming
  the option.

Example:
    >>> parse_key_values("--grpo", ["beta=0.04", "scale-rewards=group", "flag=true", "learning_rate=1e-4"])
    {'beta': 0.04, 'scale_rewards': 'group', 'flag': True, 'learning_rate': 0.0001}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from medloc.app.settings import SettingsError


def parse_key_values(option: str, pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict, by the rules above; errors are :class:`SettingsError` naming ``option``.

    Example:
        >>> parse_key_values("--data-option", ["nonsense"])
        Traceback (most recent call last):
        ...
        medloc.app.settings.SettingsError: --data-option: expected KEY=VALUE, got 'nonsense'
    """
    result: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise SettingsError(option, f"expected KEY=VALUE, got {pair!r}")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        result[key.strip().replace("-", "_")] = _number(parsed)
    return result


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` as a string; a string that is a plain number becomes that number.

    Example:
        >>> _number("1e-4"), _number("abc"), _number(True)
        (0.0001, 'abc', True)
    """
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
