"""Box geometry: paired IoU / GIoU over many boxes, and IoU of box unions.

All boxes are ``(x1, y1, x2, y2)`` with ``0 <= x1 < x2`` and ``0 <= y1 < y2`` expected
(``xyxy``, as in :mod:`torchvision.ops.boxes`), as tensors or numpy arrays. ``torchvision.ops.box_iou`` gives the
``N x M`` matrix; the *paired* functions here score prediction ``i`` against ground
truth ``i`` only, in ``O(N)``.

When a phrase has several predicted or several ground-truth boxes, the score is the IoU
of the two *unions* (area-exact, overlaps counted once), computed with shapely.

Example:
    >>> import torch
    >>> paired_box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 0., 3., 2.]]))
    tensor([0.3333])
"""

from __future__ import annotations

import numpy as np
import shapely
import torch
from torch import Tensor

__all__ = [
    "paired_box_iou",
    "paired_generalized_box_iou",
    "union_iou",
    "grouped_union_iou",
]

ArrayLike = Tensor | np.ndarray


def _as_float(boxes: ArrayLike) -> ArrayLike:
    """A floating tensor or array (tensors stay tensors, anything else becomes a numpy array)."""
    if isinstance(boxes, Tensor):
        return boxes if boxes.is_floating_point() else boxes.to(torch.get_default_dtype())
    array = np.asarray(boxes)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _area(boxes: ArrayLike) -> ArrayLike:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _paired_inter_union(boxes1: ArrayLike, boxes2: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    if boxes1.shape != boxes2.shape or boxes1.shape[-1:] != (4,):
        raise ValueError(
            f"paired box ops need two (N, 4) tensors of the same shape, got {tuple(boxes1.shape)} "
            f"and {tuple(boxes2.shape)}"
        )
    xp = torch if isinstance(boxes1, Tensor) else np
    lt = xp.maximum(boxes1[..., :2], boxes2[..., :2])
    rb = xp.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(boxes1) + _area(boxes2) - inter
    return inter, union


def _ratio(numerator: ArrayLike, denominator: ArrayLike) -> ArrayLike:
    """``numerator / denominator`` where the denominator is positive, else 0."""
    if isinstance(denominator, Tensor):
        return torch.where(denominator > 0, numerator / denominator, torch.zeros_like(denominator))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)


def paired_box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> ArrayLike:
    """Elementwise IoU of ``boxes1[i]`` and ``boxes2[i]`` (no ``N x N`` matrix).

    Tensors in, a tensor out (the diagonal of :func:`torchvision.ops.box_iou`); numpy arrays in,
    a numpy array out (the same arithmetic: the rewards score in numpy end to end).

    Args:
        boxes1 (Tensor[N, 4] or ndarray): first set of boxes, ``(x1, y1, x2, y2)``.
        boxes2 (Tensor[N, 4] or ndarray): second set of boxes, same shape.

    Returns:
        Tensor[N] (or ndarray): the IoU of each pair; 0 where both boxes have zero area.

    Example:
        >>> paired_box_iou(torch.tensor([[0., 0., 1., 1.], [0., 0., 2., 2.]]),
        ...                torch.tensor([[0., 0., 1., 1.], [2., 2., 3., 3.]]))
        tensor([1., 0.])
        >>> paired_box_iou(np.array([[0, 0, 2, 2]]), np.array([[0, 0, 2, 1]]))
        array([0.5])
    """
    inter, union = _paired_inter_union(_as_float(boxes1), _as_float(boxes2))
    return _ratio(inter, union)


def paired_generalized_box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> ArrayLike:
    """Elementwise generalized IoU (Rezatofighi et al., 2019), in ``[-1, 1]``.

    ``GIoU = IoU - (C - U) / C`` with ``C`` the area of the smallest box enclosing both.
    Matches the diagonal of :func:`torchvision.ops.generalized_box_iou`.

    Args:
        boxes1 (Tensor[N, 4] or ndarray): first set of boxes, ``(x1, y1, x2, y2)``.
        boxes2 (Tensor[N, 4] or ndarray): second set of boxes, same shape.

    Returns:
        Tensor[N] (or ndarray): the GIoU of each pair.

    Example:
        >>> paired_generalized_box_iou(torch.tensor([[0., 0., 1., 1.]]), torch.tensor([[2., 0., 3., 1.]]))
        tensor([-0.3333])
    """
    b1, b2 = _as_float(boxes1), _as_float(boxes2)
    inter, union = _paired_inter_union(b1, b2)
    xp = torch if isinstance(b1, Tensor) else np
    lt = xp.minimum(b1[..., :2], b2[..., :2])
    rb = xp.maximum(b1[..., 2:], b2[..., 2:])
    wh = (rb - lt).clip(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return _ratio(inter, union) - _ratio(enclosing - union, enclosing)


def _union_polygon(boxes: np.ndarray) -> shapely.Geometry:
    return shapely.union_all(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))


def union_iou(pred_boxes: ArrayLike, gt_boxes: ArrayLike) -> float:
    """IoU of the union of ``pred_boxes`` with the union of ``gt_boxes``.

    Exact for any number of boxes on either side (shapely polygons, overlaps counted once);
    a plain arithmetic fast path when both sides hold exactly one box.

    Args:
        pred_boxes: ``(P, 4)`` predicted boxes (``(4,)`` is read as one box).
        gt_boxes: ``(G, 4)`` ground-truth boxes.

    Returns:
        The IoU in ``[0, 1]``; 0.0 when either side is empty or both unions have zero area.

    Example:
        >>> union_iou([[0, 0, 1, 1], [1, 0, 2, 1]], [[0, 0, 2, 1]])
        1.0
        >>> union_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]])
        0.3333333333333333
    """
    p = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    if len(p) == 0 or len(g) == 0:
        return 0.0
    if len(p) == 1 and len(g) == 1:
        (px1, py1, px2, py2), (gx1, gy1, gx2, gy2) = p[0].tolist(), g[0].tolist()
        iw = max(0.0, min(px2, gx2) - max(px1, gx1))
        ih = max(0.0, min(py2, gy2) - max(py1, gy1))
        inter = iw * ih
        union = (px2 - px1) * (py2 - py1) + (gx2 - gx1) * (gy2 - gy1) - inter
        return inter / union if union > 0 else 0.0
    # boxes without area add nothing to a union (and make GEOS warn): leave them out
    p = p[(p[:, 2] > p[:, 0]) & (p[:, 3] > p[:, 1])]
    g = g[(g[:, 2] > g[:, 0]) & (g[:, 3] > g[:, 1])]
    if len(p) == 0 or len(g) == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):  # GEOS on subnormal widths; result stays in [0, 1]
        pred_union, gt_union = _union_polygon(p), _union_polygon(g)
        inter = shapely.intersection(pred_union, gt_union).area
    union = pred_union.area + gt_union.area - inter
    return min(1.0, max(0.0, inter / union)) if union > 0 else 0.0


def grouped_union_iou(
    pred_boxes: ArrayLike,
    pred_groups: ArrayLike,
    gt_boxes: ArrayLike,
    gt_groups: ArrayLike,
    num_groups: int,
) -> np.ndarray:
    """Union IoU per group for a ragged batch, e.g. one group per completion (numpy end to end).

    Boxes are flat with a group index per box (like the ``idxs`` of
    :func:`torchvision.ops.batched_nms`). Groups with exactly one predicted and one
    ground-truth box, the usual case, are scored in one vectorised :func:`paired_box_iou`;
    the others go through the exact shapely :func:`union_iou`.

    Args:
        pred_boxes (ndarray[P, 4]): predicted boxes, ``(x1, y1, x2, y2)``.
        pred_groups (ndarray[P]): group index in ``[0, num_groups)`` of each predicted box.
        gt_boxes (ndarray[G, 4]): ground-truth boxes.
        gt_groups (ndarray[G]): group index of each ground-truth box.
        num_groups (int): number of groups ``N``.

    Returns:
        ndarray[N] float64: union IoU per group; 0 for a group with no predicted (or no
        ground-truth) box.

    Example:
        >>> grouped_union_iou([[0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 2, 1]], [0, 2, 2],
        ...                   [[0, 0, 2, 1], [0, 0, 1, 1], [0, 0, 2, 1]], [0, 1, 2], num_groups=3)
        array([0.5, 0. , 1. ])
    """
    pred = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    pred_idx = np.asarray(pred_groups, dtype=np.int64).reshape(-1)
    gt_idx = np.asarray(gt_groups, dtype=np.int64).reshape(-1)
    if len(pred_idx) != len(pred) or len(gt_idx) != len(gt):
        raise ValueError(
            f"need one group index per box: {len(pred)} predicted boxes / {len(pred_idx)} indices, "
            f"{len(gt)} ground-truth boxes / {len(gt_idx)} indices"
        )
    out = np.zeros(num_groups, dtype=np.float64)
    if num_groups == 0 or len(pred) == 0 or len(gt) == 0:
        return out
    pred_count = np.bincount(pred_idx, minlength=num_groups)
    gt_count = np.bincount(gt_idx, minlength=num_groups)
    if len(pred_count) > num_groups or len(gt_count) > num_groups:
        raise ValueError(f"group indices must lie in [0, {num_groups})")

    single = (pred_count == 1) & (gt_count == 1)
    groups = np.flatnonzero(single)
    if len(groups):
        # where each group's box sits (for a single-box group, its only box); integer indexing is cheap
        pred_at = np.empty(num_groups, dtype=np.int64)
        gt_at = np.empty(num_groups, dtype=np.int64)
        pred_at[pred_idx] = np.arange(len(pred_idx))
        gt_at[gt_idx] = np.arange(len(gt_idx))
        out[groups] = paired_box_iou(pred[pred_at[groups]], gt[gt_at[groups]])

    multi = (pred_count > 0) & (gt_count > 0) & ~single
    for group in np.flatnonzero(multi).tolist():
        out[group] = union_iou(pred[pred_idx == group], gt[gt_idx == group])
    return out
