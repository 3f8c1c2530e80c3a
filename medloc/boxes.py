"""Box geometry: paired IoU / GIoU over many boxes, and IoU of box unions.

All boxes are ``(x1, y1, x2, y2)`` with ``0 <= x1 < x2`` and ``0 <= y1 < y2`` expected
(``xyxy``, as in :mod:`torchvision.ops.boxes`). ``torchvision.ops.box_iou`` gives the
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
from torchvision.ops import box_area

__all__ = [
    "paired_box_iou",
    "paired_generalized_box_iou",
    "union_iou",
    "grouped_union_iou",
]

ArrayLike = Tensor | np.ndarray


def _as_float_tensor(boxes: ArrayLike) -> Tensor:
    t = torch.as_tensor(boxes)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def _paired_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    if boxes1.shape != boxes2.shape or boxes1.shape[-1:] != (4,):
        raise ValueError(
            f"paired box ops need two (N, 4) tensors of the same shape, got {tuple(boxes1.shape)} "
            f"and {tuple(boxes2.shape)}"
        )
    lt = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    rb = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - inter
    return inter, union


def paired_box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> Tensor:
    """Elementwise IoU of ``boxes1[i]`` and ``boxes2[i]`` (no ``N x N`` matrix).

    Args:
        boxes1 (Tensor[N, 4]): first set of boxes, ``(x1, y1, x2, y2)``.
        boxes2 (Tensor[N, 4]): second set of boxes, same shape.

    Returns:
        Tensor[N]: the IoU of each pair; 0 where both boxes have zero area.

    Example:
        >>> paired_box_iou(torch.tensor([[0., 0., 1., 1.], [0., 0., 2., 2.]]),
        ...                torch.tensor([[0., 0., 1., 1.], [2., 2., 3., 3.]]))
        tensor([1., 0.])
    """
    b1, b2 = _as_float_tensor(boxes1), _as_float_tensor(boxes2)
    inter, union = _paired_inter_union(b1, b2)
    return torch.where(union > 0, inter / union, torch.zeros_like(union))


def paired_generalized_box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> Tensor:
    """Elementwise generalized IoU (Rezatofighi et al., 2019), in ``[-1, 1]``.

    ``GIoU = IoU - (C - U) / C`` with ``C`` the area of the smallest box enclosing both.
    Matches the diagonal of :func:`torchvision.ops.generalized_box_iou`.

    Args:
        boxes1 (Tensor[N, 4]): first set of boxes, ``(x1, y1, x2, y2)``.
        boxes2 (Tensor[N, 4]): second set of boxes, same shape.

    Returns:
        Tensor[N]: the GIoU of each pair.

    Example:
        >>> paired_generalized_box_iou(torch.tensor([[0., 0., 1., 1.]]), torch.tensor([[2., 0., 3., 1.]]))
        tensor([-0.3333])
    """
    b1, b2 = _as_float_tensor(boxes1), _as_float_tensor(boxes2)
    inter, union = _paired_inter_union(b1, b2)
    zeros = torch.zeros_like(union)
    iou = torch.where(union > 0, inter / union, zeros)
    lt = torch.minimum(b1[..., :2], b2[..., :2])
    rb = torch.maximum(b1[..., 2:], b2[..., 2:])
    wh = (rb - lt).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    penalty = torch.where(enclosing > 0, (enclosing - union) / enclosing, zeros)
    return iou - penalty


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
) -> Tensor:
    """Union IoU per group for a ragged batch, e.g. one group per completion.

    Boxes are flat with a group index per box (like the ``idxs`` of
    :func:`torchvision.ops.batched_nms`). Groups with exactly one predicted and one
    ground-truth box, the usual case, are scored in one vectorised :func:`paired_box_iou`;
    the others go through the exact shapely :func:`union_iou`.

    Args:
        pred_boxes (Tensor[P, 4]): predicted boxes, ``(x1, y1, x2, y2)``.
        pred_groups (Tensor[P]): group index in ``[0, num_groups)`` of each predicted box.
        gt_boxes (Tensor[G, 4]): ground-truth boxes.
        gt_groups (Tensor[G]): group index of each ground-truth box.
        num_groups (int): number of groups ``N``.

    Returns:
        Tensor[N] float64: union IoU per group; 0 for a group with no predicted (or no
        ground-truth) box.

    Example:
        >>> grouped_union_iou(torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.], [1., 0., 2., 1.]]),
        ...                   torch.tensor([0, 2, 2]),
        ...                   torch.tensor([[0., 0., 2., 1.], [0., 0., 1., 1.], [0., 0., 2., 1.]]),
        ...                   torch.tensor([0, 1, 2]), num_groups=3)
        tensor([0.5000, 0.0000, 1.0000], dtype=torch.float64)
    """
    pred = torch.as_tensor(pred_boxes, dtype=torch.float64).reshape(-1, 4)
    gt = torch.as_tensor(gt_boxes, dtype=torch.float64).reshape(-1, 4)
    pred_idx = torch.as_tensor(pred_groups, dtype=torch.long).reshape(-1)
    gt_idx = torch.as_tensor(gt_groups, dtype=torch.long).reshape(-1)
    if len(pred_idx) != len(pred) or len(gt_idx) != len(gt):
        raise ValueError(
            f"need one group index per box: {len(pred)} predicted boxes / {len(pred_idx)} indices, "
            f"{len(gt)} ground-truth boxes / {len(gt_idx)} indices"
        )
    out = torch.zeros(num_groups, dtype=torch.float64)
    if num_groups == 0 or len(pred) == 0 or len(gt) == 0:
        return out
    pred_count = torch.bincount(pred_idx, minlength=num_groups)
    gt_count = torch.bincount(gt_idx, minlength=num_groups)
    if len(pred_count) > num_groups or len(gt_count) > num_groups:
        raise ValueError(f"group indices must lie in [0, {num_groups})")

    single = (pred_count == 1) & (gt_count == 1)
    groups = torch.nonzero(single).flatten()
    if len(groups):
        # where each group's box sits (for a single-box group, its only box); integer indexing is cheap
        pred_at = torch.empty(num_groups, dtype=torch.long)
        gt_at = torch.empty(num_groups, dtype=torch.long)
        pred_at[pred_idx] = torch.arange(len(pred_idx))
        gt_at[gt_idx] = torch.arange(len(gt_idx))
        out[groups] = paired_box_iou(pred[pred_at[groups]], gt[gt_at[groups]])

    multi = (pred_count > 0) & (gt_count > 0) & ~single
    if bool(multi.any()):
        pred_np, gt_np = pred.numpy(), gt.numpy()
        pred_idx_np, gt_idx_np = pred_idx.numpy(), gt_idx.numpy()
        for group in torch.nonzero(multi).flatten().tolist():
            out[group] = union_iou(pred_np[pred_idx_np == group], gt_np[gt_idx_np == group])
    return out
