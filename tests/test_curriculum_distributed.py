"""Two processes (gloo on CPU) with different IoUs per rank hold the same tau at every step."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch.multiprocessing as mp
from accelerate import PartialState

from medloc.curriculum import IoUCurriculum
from schedulers import AdaptiveSchedule
from tests.trl_support import free_port

pytestmark = pytest.mark.slow

STEPS = 40
GROUP = 4
PER_RANK = 8
P = [[0.0, 0.7]]  # hit-rate floor: the pooled 13/16 passes it, rank 1's own 5/8 does not
GROUND_TRUTH = [[0, 0, 10, 10]]
HIT, MISS = "<answer>[0, 0, 10, 10]</answer>", "<answer>[50, 50, 60, 60]</answer>"


def rank_completions(rank: int, step: int) -> list[str]:
    """Rank 0 always hits; rank 1 hits 5 of 8 (rank 1 alone would never pass P = 0.8)."""
    if rank == 0:
        return [HIT] * PER_RANK
    misses = {step % PER_RANK, (step + 3) % PER_RANK, (step + 5) % PER_RANK}
    return [MISS if index in misses else HIT for index in range(PER_RANK)]


def completion_iou(text: str) -> float:
    return 1.0 if text == HIT else 0.0


def worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    # the environment torchrun / accelerate launch give each rank: accelerate then sets up gloo
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size))
    processes = PartialState(cpu=True)
    curriculum = IoUCurriculum("adaptive", window=10, min_hit_rate=P)
    args = SimpleNamespace(num_generations=GROUP, output_dir=out_dir, report_to="none")
    state = SimpleNamespace(global_step=0, max_steps=STEPS, is_world_process_zero=rank == 0, stateful_callbacks={})
    curriculum.on_train_begin(args, state, None, model=SimpleNamespace(training=True))
    taus = []
    for step in range(STEPS):
        completions = rank_completions(rank, step)
        curriculum.reward(completions, boxes=[GROUND_TRUTH] * PER_RANK, width=[64] * PER_RANK,
                          height=[64] * PER_RANK)
        taus.append(curriculum.threshold)
    with open(f"{out_dir}/rank{rank}.json", "w") as handle:
        json.dump({"taus": taus, "state": curriculum.schedule.state_dict()}, handle)
    processes.destroy_process_group()


def test_every_rank_holds_the_same_threshold(tmp_path):
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0["taus"] == rank1["taus"]
    assert rank0["state"] == rank1["state"]

    # the decision is the one a single process makes on the pooled batch (rank order = group order)
    pooled = AdaptiveSchedule(window=10, min_hit_rate=P)
    expected = []
    for step in range(STEPS):
        ious = [completion_iou(text) for rank in (0, 1) for text in rank_completions(rank, step)]
        pooled.observe(ious, np.arange(len(ious)) // GROUP)
        expected.append(pooled.step())
    assert rank0["taus"] == expected
    assert max(expected) > 0.3  # pooled hit rate 13/16 lets tau rise...

    alone = AdaptiveSchedule(window=10, min_hit_rate=P)
    for step in range(STEPS):
        alone.observe([completion_iou(text) for text in rank_completions(1, step)])
        alone.step()
    assert alone.threshold == 0.3  # ...which rank 1's own 5/8 never would
