"""Split held-out rows across ranks (:func:`shard`) and reassemble the answers in row order
(:func:`gather_shards`), so every rank holds the metrics of one process answering every row.

(The curricula gather every rank's scores with ``accelerate.utils.gather_object``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether ``torch.distributed`` is initialised with more than one process.

    Example:
        >>> is_distributed()
        False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th item from the rank's index.

    Example:
        >>> shard(["a", "b", "c"])  # one process: everything
        ['a', 'b', 'c']
    """
    if not is_distributed():
        return list(items)
    return list(items[dist.get_rank() :: dist.get_world_size()])


def gather_shards(local: Sequence[T]) -> list[T]:
    """Undo :func:`shard` across ranks: every rank gets the results of all shards in the original order.

    Every rank must call it (it is a collective). Single-process: returns the input as a list.

    Example:
        >>> gather_shards(shard([1, 2, 3]))
        [1, 2, 3]
    """
    if not is_distributed():
        return list(local)
    parts: list[list[T] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, list(local))
    merged: list[T] = []
    for index in range(max(len(part) for part in parts)):
        merged.extend(part[index] for part in parts if index < len(part))
    return merged
