"""Box geometry: paired IoU / GIoU and union IoU against shapely and raster oracles."""

import numpy as np
import pytest
import shapely
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou, generalized_box_iou

from medloc.boxes import grouped_union_iou, paired_box_iou, paired_generalized_box_iou, union_iou


def _random_boxes(generator: torch.Generator, n: int) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 100
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 50 + 0.1
    return torch.cat([xy, xy + wh], dim=1)


def test_paired_iou_known_values():
    boxes1 = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    boxes2 = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 0.0, 0.0]])
    assert paired_box_iou(boxes1, boxes2).tolist() == pytest.approx([1 / 3, 1.0, 0.0, 0.0])


def test_paired_ops_match_torchvision_diagonal():
    generator = torch.Generator().manual_seed(0)
    boxes1, boxes2 = _random_boxes(generator, 300), _random_boxes(generator, 300)
    torch.testing.assert_close(paired_box_iou(boxes1, boxes2), torch.diagonal(box_iou(boxes1, boxes2)))
    torch.testing.assert_close(
        paired_generalized_box_iou(boxes1, boxes2), torch.diagonal(generalized_box_iou(boxes1, boxes2))
    )


def test_paired_ops_accept_ints_and_numpy():
    assert paired_box_iou(np.array([[0, 0, 2, 2]]), np.array([[0, 0, 2, 1]])).tolist() == [0.5]
    assert paired_generalized_box_iou(torch.tensor([[0, 0, 1, 1]]), torch.tensor([[2, 0, 3, 1]])).tolist() == (
        pytest.approx([-1 / 3])
    )


def test_paired_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        paired_box_iou(torch.zeros(3, 4), torch.zeros(2, 4))


def _shapely_oracle(pred: list, gt: list) -> float:
    pred_union = shapely.unary_union([shapely.geometry.box(*b) for b in pred if b[2] > b[0] and b[3] > b[1]])
    gt_union = shapely.unary_union([shapely.geometry.box(*b) for b in gt if b[2] > b[0] and b[3] > b[1]])
    union = pred_union.union(gt_union).area
    return pred_union.intersection(gt_union).area / union if union > 0 else 0.0


def _raster_oracle(pred: list, gt: list, size: int = 24) -> float:
    def mask(boxes):
        m = np.zeros((size, size), dtype=bool)
        for x1, y1, x2, y2 in boxes:
            m[y1:y2, x1:x2] = True
        return m

    p, g = mask(pred), mask(gt)
    union = (p | g).sum()
    return (p & g).sum() / union if union else 0.0


# pixel-like coordinates (subnormal widths only make GEOS warn in the oracle)
_coordinate = st.floats(0, 100, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 3))


@st.composite
def _box(draw, coordinate=_coordinate):
    x1, x2 = sorted([draw(coordinate), draw(coordinate)])
    y1, y2 = sorted([draw(coordinate), draw(coordinate)])
    return [x1, y1, x2, y2]


@st.composite
def _int_box(draw):
    x1, y1 = draw(st.integers(0, 22)), draw(st.integers(0, 22))
    return [x1, y1, draw(st.integers(x1 + 1, 24)), draw(st.integers(y1 + 1, 24))]


@settings(max_examples=200, deadline=None)
@given(pred=st.lists(_box(), min_size=1, max_size=4), gt=st.lists(_box(), min_size=1, max_size=4))
def test_union_iou_matches_shapely_oracle(pred, gt):
    assert union_iou(pred, gt) == pytest.approx(_shapely_oracle(pred, gt), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(pred=st.lists(_int_box(), min_size=1, max_size=4), gt=st.lists(_int_box(), min_size=1, max_size=4))
def test_union_iou_matches_pixel_count(pred, gt):
    assert union_iou(pred, gt) == pytest.approx(_raster_oracle(pred, gt), abs=1e-12)


def test_union_iou_tiny_and_degenerate_boxes_stay_in_range():
    value = union_iou([[0.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 5.6e-177, 0.5], [0.0, 0.0, 2.5e-270, 1.0]])
    assert value == 0.0
    value = union_iou([[0.0, 0.0, 2.2e-308, 2.0], [1, 1, 2, 2]], [[0.0, 0.0, 1e-300, 1.0], [1, 1, 2, 2]])
    assert 0.0 <= value <= 1.0


def test_union_iou_counts_overlaps_once():
    # two overlapping predictions covering exactly the ground truth
    assert union_iou([[0, 0, 6, 4], [4, 0, 10, 4]], [[0, 0, 10, 4]]) == 1.0
    # a duplicated box changes nothing
    assert union_iou([[0, 0, 2, 2], [0, 0, 2, 2]], [[1, 0, 3, 2]]) == pytest.approx(1 / 3)
    assert union_iou(np.empty((0, 4)), [[0, 0, 1, 1]]) == 0.0


@settings(max_examples=50, deadline=None)
@given(
    groups=st.lists(
        st.tuples(st.lists(_box(), min_size=0, max_size=3), st.lists(_box(), min_size=0, max_size=3)),
        min_size=1,
        max_size=8,
    ),
    shuffle_seed=st.integers(0, 2**16),
)
def test_grouped_union_iou_matches_per_group(groups, shuffle_seed):
    pred = [(b, g) for g, (ps, _) in enumerate(groups) for b in ps]
    gt = [(b, g) for g, (_, gs) in enumerate(groups) for b in gs]
    rng = np.random.default_rng(shuffle_seed)
    pred = [pred[i] for i in rng.permutation(len(pred))]  # group order must not matter
    out = grouped_union_iou(
        np.array([b for b, _ in pred], dtype=np.float64).reshape(-1, 4),
        np.array([g for _, g in pred], dtype=np.int64),
        np.array([b for b, _ in gt], dtype=np.float64).reshape(-1, 4),
        np.array([g for _, g in gt], dtype=np.int64),
        num_groups=len(groups),
    )
    expected = [union_iou(ps, gs) if ps and gs else 0.0 for ps, gs in groups]
    assert out.tolist() == pytest.approx(expected, abs=1e-12)


def test_grouped_union_iou_rejects_mismatched_indices():
    with pytest.raises(ValueError, match="one group index per box"):
        grouped_union_iou(torch.zeros(2, 4), torch.zeros(1, dtype=torch.long), torch.zeros(1, 4), torch.zeros(1), 1)
