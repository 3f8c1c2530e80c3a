"""The design simulator (experiments/simulate_curriculum.py): GRPO on a parametric box policy."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sim():
    sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location("simulate_curriculum", ROOT / "experiments" / "simulate_curriculum.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_group_advantages_are_trls(sim):
    advantages = sim.group_advantages(np.array([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]]))
    assert advantages[0].tolist() == pytest.approx([0.75 / (0.5 + 1e-4), -0.25 / (0.5 + 1e-4), -0.25 / (0.5 + 1e-4),
                                                    -0.25 / (0.5 + 1e-4)])  # unbiased std 0.5
    assert advantages[1].tolist() == [0.0] * 4  # a starved or saturated group carries no advantage


def test_grpo_on_loose_boxes_tightens_them(sim):
    regime = sim.Regime(steps=150, lr=0.01)
    result = sim.simulate(regime, {"schedule": None, "options": {}}, seeds=4)  # soft IoU
    assert np.mean(result["start"]["mIoU"]) == pytest.approx(0.60, abs=0.02)  # boxes 15% looser per side
    assert min(result["final"]["mIoU"]) > 0.8


def test_a_fully_starved_fixed_threshold_learns_nothing(sim):
    regime = sim.Regime(loose=1.0, offset=0.6, spread=0.05, steps=60)
    result = sim.simulate(regime, sim.ARMS["fixed-0.8"], seeds=3)
    assert result["early_zero_variance"] == 1.0
    assert result["final"]["mIoU"] == result["start"]["mIoU"]


def test_arms_of_a_seed_share_their_random_numbers(sim):
    regime = sim.Regime(steps=30)
    first = sim.simulate(regime, sim.ARMS["fixed-0.5"], seeds=2)
    again = sim.simulate(regime, {"schedule": "fixed", "options": {"threshold": 0.5}}, seeds=2)
    assert first["final"] == again["final"]
    adaptive = sim.simulate(regime, sim.ARMS["adaptive"], seeds=2)
    assert adaptive["start"] == first["start"] and len(adaptive["final_tau"]) == 2
