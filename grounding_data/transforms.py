"""Resizing images for the model with the boxes following them.

Boxes ride along as torchvision ``tv_tensors.BoundingBoxes`` through ``transforms.v2``,
so they land in exactly the frame of the resized image. ``qwen_resize`` uses the size
the Qwen2-VL / Qwen2.5-VL image processor itself computes
(:meth:`grounding_data.frames.QwenResizedFrame.resized_size`, transformers' ``smart_resize``),
so ground truth is in the frame Qwen2.5-VL writes its absolute-pixel coordinates in. To map
boxes alone, without the image, use ``QwenResizedFrame().encode(boxes, width, height)``.

Example::

    >>> from PIL import Image
    >>> image, boxes = qwen_resize(Image.new("RGB", (1000, 500)), [[100, 100, 200, 200]])
    >>> image.size, boxes
    ((1008, 504), [[100.8, 100.8, 201.6, 201.6]])
"""

from __future__ import annotations

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from grounding_data.frames import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, QwenResizedFrame


def resize_with_boxes(image: Image.Image, boxes: list[list[float]], width: int,
                      height: int) -> tuple[Image.Image, list[list[float]]]:
    """Resize ``image`` to width x height and scale ``boxes`` ([x1, y1, x2, y2] pixels) with it
    (box coordinates rounded to 1e-4 px: torchvision scales them in float32).

    Example::

        >>> resize_with_boxes(Image.new("RGB", (100, 50)), [[10, 10, 20, 20]], 200, 100)[1]
        [[20.0, 20.0, 40.0, 40.0]]
    """
    canvas = (image.height, image.width)
    tv_boxes = tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4),
                                        format="XYXY", canvas_size=canvas)
    resized, out = v2.Resize((height, width), interpolation=v2.InterpolationMode.BICUBIC)(image, tv_boxes)
    return resized, [[round(v, 4) for v in box] for box in out.tolist()]


def qwen_resize(image: Image.Image, boxes: list[list[float]], min_pixels: int = QWEN_MIN_PIXELS,
                max_pixels: int = QWEN_MAX_PIXELS) -> tuple[Image.Image, list[list[float]]]:
    """Resize ``image`` to the Qwen2-VL/Qwen2.5-VL processor's size (the processor then
    leaves it as is) with ``boxes`` following; defaults are the processor's own.

    Example::

        >>> qwen_resize(Image.new("RGB", (50, 50)), [[0, 0, 50, 50]])[1]
        [[0.0, 0.0, 56.0, 56.0]]
    """
    width, height = QwenResizedFrame(min_pixels=min_pixels, max_pixels=max_pixels).resized_size(image.width, image.height)
    return resize_with_boxes(image, boxes, width, height)
