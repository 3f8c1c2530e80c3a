"""Coordinate frames: how a model writes box coordinates, and how to map them to pixels.

A frame maps boxes between the numbers a model writes and absolute pixels of the image
handed to the processor (the frame of the ground truth, see the data contract). Every
frame here is a pure per-axis scaling, so ``decode`` multiplies ``x`` by ``sx`` and ``y``
by ``sy`` and ``encode`` divides.

Frame names accepted by :func:`get_frame`:

- ``"pixels"``: absolute pixels of the image given to the processor.
- ``"unit"``: floats in 0..1 of the width and height.
- ``"grid-N"``: numbers in 0..N mapped linearly to 0..width / 0..height
  (``"grid-1000"`` is Qwen2-VL, ``"grid-100"`` a common small-model choice).
- ``"qwen2.5-vl"``: absolute pixels of the image after the processor's resize, computed
  with transformers' own ``smart_resize`` (Qwen2.5-VL / Qwen3-VL style answers).

Example:
    >>> import numpy as np
    >>> get_frame("grid-1000").decode(np.array([[0, 0, 500, 1000]]), width=640, height=480)
    array([[  0.,   0., 320., 480.]])
"""

from __future__ import annotations

import functools
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

if TYPE_CHECKING:  # torch is read only when a tensor comes in: frame names and numpy boxes need no torch
    import torch

__all__ = [
    "CoordinateFrame",
    "PixelFrame",
    "UnitFrame",
    "GridFrame",
    "QwenResizedFrame",
    "get_frame",
    "FRAME_NAMES",
]

FRAME_NAMES = ("pixels", "unit", "grid-N", "qwen2.5-vl")
"""The frame names :func:`get_frame` accepts (``N`` is a positive integer)."""

# Defaults of Qwen2VLImageProcessor (also used by Qwen2.5-VL): patch 14 x merge 2. Written out, not read from
# the processor class (importing it costs seconds); tests/test_frames.py checks they match.
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280

BoxesT = TypeVar("BoxesT", np.ndarray, "torch.Tensor")
Size = float | int | np.ndarray


class CoordinateFrame(ABC):
    """A way of writing box coordinates, convertible to and from pixels.

    Subclasses only say how big the model's canvas is relative to the image
    (:meth:`scales`); :meth:`decode` and :meth:`encode` are shared.

    Example:
        >>> frame = get_frame("unit")
        >>> frame.encode(np.array([10.0, 20.0, 30.0, 40.0]), width=100, height=200)
        array([0.1, 0.1, 0.3, 0.2])
    """

    name: str

    @abstractmethod
    def scales(self, width: Size, height: Size) -> tuple[np.ndarray, np.ndarray]:
        """Pixels per model unit along x and y, for scalar or per-row ``(N,)`` sizes.

        Example:
            >>> get_frame("grid-100").scales(np.array([200, 50]), np.array([100, 100]))
            (array([2. , 0.5]), array([1., 1.]))
        """

    def decode(self, boxes: BoxesT, width: Size, height: Size) -> BoxesT:
        """Map model-frame boxes to pixel boxes of a ``width`` x ``height`` image.

        Args:
            boxes: ``(N, 4)`` or ``(4,)`` ``(x1, y1, x2, y2)`` boxes, numpy array or tensor
                (anything else is read with ``np.asarray``).
            width: the image width in pixels, a scalar or an ``(N,)`` array (one size per box).
            height: the image height in pixels, the same way.

        Returns:
            Pixel boxes of the same shape; a tensor for a tensor input, else a float64 array.

        Example:
            >>> import torch
            >>> get_frame("unit").decode(torch.tensor([[0.5, 0.5, 1.0, 1.0]]), 10, 20)
            tensor([[ 5., 10., 10., 20.]])
        """
        return self._rescale(boxes, width, height, inverse=False)

    def encode(self, pixel_boxes: BoxesT, width: Size, height: Size) -> BoxesT:
        """Map pixel boxes of a ``width`` x ``height`` image to this frame (inverse of decode).

        Example:
            >>> get_frame("grid-1000").encode(np.array([[32.0, 0.0, 64.0, 48.0]]), 64, 48)
            array([[ 500.,    0., 1000., 1000.]])
        """
        return self._rescale(pixel_boxes, width, height, inverse=True)

    def _rescale(self, boxes: BoxesT, width: Size, height: Size, *, inverse: bool) -> BoxesT:
        sx, sy = self.scales(width, height)
        factors = np.stack(np.broadcast_arrays(sx, sy, sx, sy), axis=-1)
        if inverse:
            factors = 1.0 / factors
        torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
        if torch is not None and isinstance(boxes, torch.Tensor):
            dtype = boxes.dtype if boxes.is_floating_point() else torch.get_default_dtype()
            return boxes.to(dtype) * torch.as_tensor(factors, dtype=dtype, device=boxes.device)
        return np.asarray(boxes, dtype=np.float64) * factors


@dataclass(frozen=True)
class PixelFrame(CoordinateFrame):
    """Absolute pixels of the image given to the processor (the identity frame).

    Example:
        >>> PixelFrame().decode(np.array([1, 2, 3, 4]), 10, 10)
        array([1., 2., 3., 4.])
    """

    name: ClassVar[str] = "pixels"

    def scales(self, width: Size, height: Size) -> tuple[np.ndarray, np.ndarray]:
        return np.ones_like(width, dtype=np.float64), np.ones_like(height, dtype=np.float64)


@dataclass(frozen=True)
class UnitFrame(CoordinateFrame):
    """Fractions (0..1) of the image width and height.

    Example:
        >>> UnitFrame().decode(np.array([0.0, 0.0, 0.5, 0.25]), 100, 100)
        array([ 0.,  0., 50., 25.])
    """

    name: ClassVar[str] = "unit"

    def scales(self, width: Size, height: Size) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(width, dtype=np.float64), np.asarray(height, dtype=np.float64)


@dataclass(frozen=True)
class GridFrame(CoordinateFrame):
    """Numbers 0..``n`` mapped linearly to 0..width and 0..height (``"grid-N"``).

    Example:
        >>> GridFrame(1000).decode(np.array([100, 100, 200, 200]), 500, 1000)
        array([ 50., 100., 100., 200.])
    """

    n: int = 1000

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n <= 0:
            raise ValueError(f"grid size must be a positive integer, got {self.n!r}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"grid-{self.n}"

    def scales(self, width: Size, height: Size) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(width, dtype=np.float64) / self.n, np.asarray(height, dtype=np.float64) / self.n


@functools.lru_cache(maxsize=4096)
def _resized_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    return smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)


@dataclass(frozen=True)
class QwenResizedFrame(CoordinateFrame):
    """Absolute pixels of the Qwen2.5-VL processor's resized image (``"qwen2.5-vl"``).

    The resized size is transformers' own ``smart_resize`` (sides multiples of ``factor``,
    area within ``[min_pixels, max_pixels]``); defaults are Qwen2VLImageProcessor's. Use the
    same ``min_pixels`` / ``max_pixels`` as the processor you train with.

    Example:
        >>> QwenResizedFrame().resized_size(1000, 500)
        (1008, 504)
        >>> QwenResizedFrame(max_pixels=256 * 28 * 28).decode(np.array([0, 0, 448, 448]), 1024, 1024)
        array([   0.,    0., 1024., 1024.])
    """

    factor: int = QWEN_FACTOR
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS
    name: ClassVar[str] = "qwen2.5-vl"

    def __post_init__(self) -> None:
        for field in ("factor", "min_pixels", "max_pixels"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"qwen2.5-vl frame: {field} must be a positive integer, got {value!r}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(
                f"qwen2.5-vl frame: min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})"
            )

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """The processor's resized ``(width, height)`` for an image of this size.

        Example:
            >>> QwenResizedFrame().resized_size(1000, 500)
            (1008, 504)
        """
        try:
            h, w = _resized_size(int(height), int(width), self.factor, self.min_pixels, self.max_pixels)
        except ValueError as error:  # smart_resize refuses aspect ratios above 200, as the processor does
            raise ValueError(f"qwen2.5-vl frame: cannot resize a {width} x {height} image: {error}") from None
        return w, h

    def scales(self, width: Size, height: Size) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(width, dtype=np.float64)
        h = np.asarray(height, dtype=np.float64)
        if w.ndim == 0 and h.ndim == 0:
            rw, rh = self.resized_size(int(w), int(h))
            return w / rw, h / rh
        w, h = np.broadcast_arrays(w, h)
        # one smart_resize per distinct size: key each (width, height) pair as one integer
        keys, inverse = np.unique((w.astype(np.int64) << 32) | h.astype(np.int64), return_inverse=True)
        resized = np.array(
            [self.resized_size(key >> 32, key & 0xFFFFFFFF) for key in keys.tolist()], dtype=np.float64
        ).reshape(-1, 2)[inverse.reshape(w.shape)]
        return w / resized[..., 0], h / resized[..., 1]


def get_frame(name: str | CoordinateFrame, **options: int) -> CoordinateFrame:
    """Build a coordinate frame from its name (a frame instance is returned unchanged).

    Args:
        name: ``"pixels"``, ``"unit"``, ``"grid-N"`` (``N`` a positive integer) or
            ``"qwen2.5-vl"``.
        **options: only for ``"qwen2.5-vl"``: ``min_pixels``, ``max_pixels``, ``factor``.

    Raises:
        ValueError: unknown name (the message lists the allowed values) or options given
            to a frame that takes none.

    Example:
        >>> get_frame("grid-100")
        GridFrame(n=100)
        >>> get_frame("qwen2.5-vl", max_pixels=512 * 28 * 28).max_pixels
        401408
    """
    if isinstance(name, CoordinateFrame):
        if options:
            raise ValueError(f"options {sorted(options)} cannot be applied to an existing frame {name!r}")
        return name
    if name == "qwen2.5-vl":
        unknown = set(options) - {"min_pixels", "max_pixels", "factor"}
        if unknown:
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} for frame 'qwen2.5-vl'; allowed: factor, max_pixels, min_pixels"
            )
        return QwenResizedFrame(**options)
    if options:
        raise ValueError(f"frame {name!r} takes no options, got {sorted(options)}")
    if name == "pixels":
        return PixelFrame()
    if name == "unit":
        return UnitFrame()
    if isinstance(name, str) and name.startswith("grid-") and name[5:].isdigit() and int(name[5:]) > 0:
        return GridFrame(int(name[5:]))
    raise ValueError(
        f"unknown coordinate frame {name!r}; expected one of 'pixels', 'unit', 'grid-N' "
        f"(N a positive integer, e.g. 'grid-1000'), 'qwen2.5-vl'"
    )
