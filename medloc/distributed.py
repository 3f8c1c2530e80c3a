"""Combine per-process statistics so every rank takes the same curriculum decision.

TRL computes rewards on each process for its own slice of the generation batch. A
performance-driven schedule fed only local IoUs would drift apart across ranks; medloc
gathers the IoUs of all ranks (in rank order, which is TRL's global completion order) and
feeds the same data to every rank's schedule. Held-out evaluation splits its rows across ranks
(:func:`shard`) and reassembles the answers in row order (:func:`gather_shards`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch.distributed as dist

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether ``torch.distributed`` is initialised with more than one process.

    Example:
        >>> is_distributed()
        False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_ious(local_ious: np.ndarray) -> tuple[np.ndarray, int]:
    """All ranks' IoUs concatenated in rank order, and the offset of this rank's slice.

    Uses ``all_gather_object`` so slices of different lengths are fine and any backend
    (gloo on CPU, nccl on GPU) works. Single-process: returns the input and offset 0.

    Example:
        >>> ious, offset = gather_ious(np.array([0.5, 0.7]))
        >>> ious.tolist(), offset
        ([0.5, 0.7], 0)
    """
    if not is_distributed():
        return local_ious, 0
    slices: list[list[float] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(slices, local_ious.tolist())
    rank = dist.get_rank()
    offset = sum(len(part) for part in slices[:rank])
    return np.concatenate([np.asarray(part, dtype=np.float64) for part in slices]), offset


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
