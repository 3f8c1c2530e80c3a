"""``medloc train`` under ``accelerate launch`` with two CPU processes: one tau on every rank, held-out rows sharded.

``accelerate launch --cpu --num_processes 2`` starts a single process (accelerate runs several CPU
processes only through MPI), so the run uses ``--multi_gpu``, which starts them with torchrun;
without a GPU they talk over gloo. The CLI runs through ``tests/pseudo_train.py`` (IoUs derived
from the completion text, so the ranks' IoUs differ and tau moves with an untrained model) with
every rank recording its tau and schedule state after each step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from medloc.distributed import gather_shards, shard
from tests.pseudo_train import TAU_LOG_ENV
from tests.trl_support import RISING, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STEPS = 6
HELDOUT_ROWS = 3


def records(folder: Path, name: str, rank: int) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{name}.rank{rank}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_ranks")
    launcher = Path(sys.executable).with_name("accelerate")
    command = [
        str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        "tests/pseudo_train.py", "train", *RISING, "--no-warm-start", "--max-steps", str(STEPS),
        "--prompts-per-step", "1", "--num-generations", "4", "--heldout-rows", str(HELDOUT_ROWS),
        "--eval-every", "3", "--max-completion-length", "8", "--output-dir", str(folder / "run"), "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", TAU_LOG_ENV: str(folder)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return folder, result.stdout


def test_every_rank_holds_the_same_tau_at_every_step_and_tau_rises(two_process_run):
    folder, stdout = two_process_run
    rank0, rank1 = records(folder, "taus", 0), records(folder, "taus", 1)
    assert [line["step"] for line in rank0] == list(range(1, STEPS + 1))
    assert rank0 == rank1  # tau and the whole schedule state, step by step
    taus = [line["tau"] for line in rank0]
    assert taus[-1] > taus[0] == 0.3
    # the schedule saw both ranks' completions: 2 ranks x 1 prompt x 4 generations per step
    assert all(len(step) == 8 for step in rank0[-1]["state"]["tracker"]["ious"])
    assert stdout.count("medloc train finished") == 1  # the summary is printed by the main process only


def test_heldout_rows_are_sharded_and_every_rank_scores_all_answers(two_process_run):
    folder, _ = two_process_run
    rank0, rank1 = records(folder, "heldout", 0), records(folder, "heldout", 1)
    assert len(rank0) == len(rank1) == 3  # before GRPO, at step 3, at the end
    assert [line["answered"] for line in rank0] == [2] * 3  # rows 0 and 2
    assert [line["answered"] for line in rank1] == [1] * 3  # row 1
    assert [line["answers"] for line in rank0] == [line["answers"] for line in rank1]
    assert all(len(line["answers"]) == HELDOUT_ROWS for line in rank0)
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert [step for step, _ in summary["heldout_history"]] == [0, 3, STEPS]
    assert summary["heldout"]["n"] == HELDOUT_ROWS


def shard_worker(rank: int, world_size: int, store: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    rows = [f"row{index}" for index in range(5)]
    mine = shard(rows)
    merged = gather_shards([row.upper() for row in mine])
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"mine": mine, "merged": merged}))
    dist.destroy_process_group()


def test_shards_are_disjoint_and_gather_back_in_row_order(tmp_path):
    mp.spawn(shard_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1))
    assert rank0["mine"] == ["row0", "row2", "row4"] and rank1["mine"] == ["row1", "row3"]
    assert rank0["merged"] == rank1["merged"] == ["ROW0", "ROW1", "ROW2", "ROW3", "ROW4"]
