"""Grounding metrics on known predictions (exact numbers)."""

import math

import numpy as np
import pytest
import torch

from medloc.metrics import PSEUDO_MAP_THRESHOLDS, GroundingMetrics, accuracy_at, pseudo_map
from medloc.rewards import completion_ious


def test_pseudo_map_thresholds_are_exact_decimals():
    assert PSEUDO_MAP_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_accuracy_at_is_inclusive():
    assert accuracy_at([0.5, 0.8, 0.49999, 0.0], 0.5) == 0.5
    assert accuracy_at([0.7, 0.7], 0.7) == 1.0
    assert accuracy_at(torch.tensor([0.8, 0.79]), 0.8) == 0.5
    assert math.isnan(accuracy_at([], 0.5))


def test_pseudo_map_known_values():
    # IoU 1.0 passes 10 thresholds, 0.75 passes 6 (0.50..0.75), 0.5 passes 1, 0.0 none: 17 / 40
    assert pseudo_map([1.0, 0.75, 0.5, 0.0]) == 17 / 40
    assert pseudo_map([0.95]) == 1.0
    assert pseudo_map([0.94999]) == 0.9
    assert math.isnan(pseudo_map([]))


def test_grounding_metrics_on_known_predictions():
    metric = GroundingMetrics()
    metric.update([1.0, 0.75, 0.5, 0.0], valid=[True, True, True, False])
    metric.update(np.array([0.85, 0.3]), valid=np.array([True, True]))
    result = metric.compute()
    assert result == {
        "A@0.5": 4 / 6,
        "A@0.8": 2 / 6,
        "pseudo_mAP": (10 + 6 + 1 + 0 + 8 + 0) / 60,
        "mIoU": pytest.approx((1.0 + 0.75 + 0.5 + 0.85 + 0.3) / 6),
        "format_valid_rate": 5 / 6,
        "n": 6,
    }


def test_batches_accumulate_like_one_batch():
    rng = np.random.default_rng(0)
    ious = rng.random(100)
    one, many = GroundingMetrics(), GroundingMetrics()
    one.update(ious)
    for chunk in np.array_split(ious, 7):
        many.update(torch.from_numpy(chunk))
    assert one.compute()["A@0.5"] == many.compute()["A@0.5"] == accuracy_at(ious, 0.5)
    assert many.compute()["pseudo_mAP"] == pytest.approx(pseudo_map(ious), abs=1e-15)
    assert many.compute()["mIoU"] == pytest.approx(ious.mean())


def test_invalid_rows_count_as_zero():
    metric = GroundingMetrics()
    metric.update(torch.tensor([0.9, 0.9], dtype=torch.float64), valid=torch.tensor([True, False]))
    result = metric.compute()
    assert (result["A@0.5"], result["mIoU"], result["format_valid_rate"]) == (0.5, 0.45, 0.5)


def test_validity_unknown_and_empty():
    metric = GroundingMetrics()
    assert metric.compute()["n"] == 0
    assert math.isnan(metric.compute()["A@0.5"]) and math.isnan(metric.compute()["pseudo_mAP"])
    metric.update([0.6])
    assert math.isnan(metric.compute()["format_valid_rate"])
    metric.update([0.6], valid=[False])
    assert metric.compute()["format_valid_rate"] == 0.0
    metric.reset()
    assert metric.compute()["n"] == 0


def test_extra_thresholds():
    metric = GroundingMetrics(accuracy_thresholds=(0.3, 0.5, 0.8))
    metric.update([0.3, 0.55, 0.81, 0.1])
    result = metric.compute()
    assert (result["A@0.3"], result["A@0.5"], result["A@0.8"]) == (0.75, 0.5, 0.25)
    with pytest.raises(ValueError, match="accuracy_thresholds"):
        GroundingMetrics(accuracy_thresholds=(0.0,))


@pytest.mark.parametrize("bad", [[0.5, 1.2], [float("nan")], [-0.1]])
def test_out_of_range_ious_are_errors(bad):
    with pytest.raises(ValueError, match=r"ious\[\d\].*finite and in \[0, 1\]"):
        GroundingMetrics().update(bad)


def test_valid_length_mismatch():
    with pytest.raises(ValueError, match="valid has 1 entries but ious has 2"):
        GroundingMetrics().update([0.1, 0.2], valid=[True])


def test_end_to_end_from_completions():
    completions = [
        '{"bbox_2d": [0, 0, 10, 10]}',  # IoU 1.0
        "[0, 0, 8, 10]",  # 0.8
        "[0, 0, 5, 10]",  # 0.5
        "I am not sure",  # invalid
    ]
    ious = completion_ious(completions, [[[0, 0, 10, 10]]] * 4, [100] * 4, [100] * 4)
    metric = GroundingMetrics()
    metric.update(ious, valid=[True, True, True, False])
    result = metric.compute()
    assert (result["A@0.5"], result["A@0.8"], result["pseudo_mAP"]) == (0.75, 0.5, (10 + 7 + 1) / 40)
