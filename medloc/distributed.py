"""Combine per-process statistics so every rank takes the same curriculum decision.

TRL computes rewards on each process for its own slice of the generation batch. A
performance-driven schedule fed only local IoUs would drift apart across ranks; medloc
gathers the IoUs of all ranks (in rank order, which is TRL's global completion order) and
feeds the same data to every rank's schedule.
"""

from __future__ import annotations

import numpy as np
import torch.distributed as dist


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
