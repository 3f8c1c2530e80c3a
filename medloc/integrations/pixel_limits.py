"""The ``qwen2.5-vl`` frame as each trainer really resizes its images, with limits read from the trainer.

A Qwen2.5-VL model writes boxes in pixels of the image it was shown. That image is the original
after the trainer's own pre-resize (EasyR1's ``data.min_pixels`` / ``data.max_pixels``, ms-swift's
``--max_pixels``, qwen_vl_utils' ``fetch_image`` in ms-swift and verl), then the processor's
``smart_resize`` with the processor's own limits. A frame built with other limits decodes boxes at
the wrong scale: medloc's default ``max_pixels`` is 1,003,520 while Qwen2.5-VL processors commonly
ship 12,845,056, so on images over about 1 megapixel IoU collapses. So each adapter builds
:class:`TrainerQwenFrame` from what its trainer exposes, or fails before training:

- :func:`processor_limits`: ``factor`` / ``min_pixels`` / ``max_pixels`` of a processor object;
- :func:`pretrained_processor_limits`: the same from a model id or folder (its preprocessor config);
- :func:`qwen_vl_utils_limits`: what ``qwen_vl_utils.fetch_image`` resizes to (ms-swift, verl);
- :func:`checked_limits`: explicit ``frame_options`` must agree with the trainer's.

Example:
    >>> frame = TrainerQwenFrame(min_pixels=3136, max_pixels=12845056,
    ...                          pre_resize=(AreaResize(min_pixels=262144, max_pixels=4194304),))
    >>> frame.resized_size(4000, 3000)  # EasyR1 first shrinks to 2364 x 1773, the processor rounds to 28
    (2352, 1764)
    >>> TrainerQwenFrame(min_pixels=3136, max_pixels=12845056).resized_size(4000, 3000)
    (4004, 2996)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grounding_data.frames import QwenResizedFrame

__all__ = ["AreaResize", "AspectRescale", "SmartResize", "TrainerQwenFrame", "checked_limits",
           "pretrained_processor_limits", "processor_limits", "qwen_vl_utils_limits"]

LIMIT_KEYS = ("factor", "min_pixels", "max_pixels")


@dataclass(frozen=True)
class AreaResize:
    """EasyR1's ``process_image``: scale by ``sqrt(limit / area)`` (sides truncated) into ``[min, max]`` pixels.

    Example:
        >>> AreaResize(min_pixels=262144, max_pixels=4194304)(100, 100)
        (512, 512)
    """

    min_pixels: int | None
    max_pixels: int | None

    def __call__(self, width: int, height: int) -> tuple[int, int]:
        if self.max_pixels is not None and width * height > self.max_pixels:
            factor = math.sqrt(self.max_pixels / (width * height))
            width, height = int(width * factor), int(height * factor)
        if self.min_pixels is not None and width * height < self.min_pixels:
            factor = math.sqrt(self.min_pixels / (width * height))
            width, height = int(width * factor), int(height * factor)
        return width, height


@dataclass(frozen=True)
class AspectRescale:
    """ms-swift's ``rescale_image`` (its ``--max_pixels``): keep the aspect ratio, area at most ``max_pixels``.

    Example:
        >>> AspectRescale(max_pixels=10000)(400, 100)
        (200, 50)
    """

    max_pixels: int

    def __call__(self, width: int, height: int) -> tuple[int, int]:
        if self.max_pixels <= 0 or width * height <= self.max_pixels:
            return width, height
        ratio = width / height
        height_scaled = math.sqrt(self.max_pixels / ratio)
        return int(height_scaled * ratio), int(height_scaled)


@dataclass(frozen=True)
class SmartResize:
    """A ``smart_resize`` before the processor's own (qwen_vl_utils' ``fetch_image`` in verl).

    Example:
        >>> SmartResize(factor=28, min_pixels=3136, max_pixels=12845056)(1000, 500)
        (1008, 504)
    """

    factor: int
    min_pixels: int
    max_pixels: int

    def __call__(self, width: int, height: int) -> tuple[int, int]:
        return QwenResizedFrame(self.factor, self.min_pixels, self.max_pixels).resized_size(width, height)


@dataclass(frozen=True)
class TrainerQwenFrame(QwenResizedFrame):
    """The ``qwen2.5-vl`` frame after the trainer's ``pre_resize`` steps, then the processor's ``smart_resize``.

    ``factor`` / ``min_pixels`` / ``max_pixels`` are the limits of the last resize (the processor's,
    or ``fetch_image``'s where the processor does not resize again); width and height of the ground
    truth stay the original image's.
    """

    pre_resize: tuple[AreaResize | AspectRescale | SmartResize, ...] = ()

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        for step in self.pre_resize:
            width, height = step(int(width), int(height))
        return super().resized_size(width, height)


def processor_limits(processor: Any) -> dict[str, int]:
    """``factor`` / ``min_pixels`` / ``max_pixels`` of a Qwen2-VL-style processor or image processor.

    Reads ``size.shortest_edge`` / ``size.longest_edge`` (a dict or transformers 5's ``SizeDict``) or the ``min_pixels`` /
    ``max_pixels`` attributes (transformers 4). Raises ``ValueError`` when the processor has neither.

    Example:
        >>> from types import SimpleNamespace
        >>> processor_limits(SimpleNamespace(image_processor=SimpleNamespace(
        ...     patch_size=14, merge_size=2, size={"shortest_edge": 3136, "longest_edge": 12845056})))
        {'factor': 28, 'min_pixels': 3136, 'max_pixels': 12845056}
    """
    image_processor = getattr(processor, "image_processor", processor)
    size = getattr(image_processor, "size", None)  # a dict, or transformers 5's SizeDict
    low, high = (size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
                 for key in ("shortest_edge", "longest_edge"))
    low = low if low is not None else getattr(image_processor, "min_pixels", None)
    high = high if high is not None else getattr(image_processor, "max_pixels", None)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    if not (low and high and patch and merge):
        raise ValueError(f"cannot read the pixel limits of {type(image_processor).__name__} (expected a Qwen2-VL "
                         f"image processor with size shortest_edge/longest_edge or min_pixels/max_pixels)")
    return {"factor": int(patch) * int(merge), "min_pixels": int(low), "max_pixels": int(high)}


def pretrained_processor_limits(model: str) -> dict[str, int]:
    """:func:`processor_limits` of the image processor saved with ``model`` (a hub id or a folder)."""
    from transformers import AutoImageProcessor

    try:
        image_processor = AutoImageProcessor.from_pretrained(model)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot load the image processor of {model!r} to read its pixel limits: {error}") from None
    return processor_limits(image_processor)


def qwen_vl_utils_limits(patch_size: int = 14) -> dict[str, int]:
    """What ``qwen_vl_utils.fetch_image`` resizes an image to, from its module settings (as patched by the trainer).

    qwen_vl_utils >= 0.0.12 keeps token counts (``IMAGE_MIN_TOKEN_NUM`` / ``IMAGE_MAX_TOKEN_NUM`` x
    ``(patch_size * SPATIAL_MERGE_SIZE) ** 2``); older releases keep ``MIN_PIXELS`` / ``MAX_PIXELS``.
    Raises ``ValueError`` when qwen_vl_utils is missing (ms-swift and verl need it for Qwen-VL images).
    """
    try:
        from qwen_vl_utils import vision_process
    except ImportError:
        raise ValueError("qwen_vl_utils is not installed, so the image size the model sees is unknown; "
                         "install qwen-vl-utils (the trainer needs it for Qwen2.5-VL) or give frame_options") from None
    if hasattr(vision_process, "IMAGE_MAX_TOKEN_NUM"):
        factor = patch_size * int(getattr(vision_process, "SPATIAL_MERGE_SIZE", 2))
        return {"factor": factor, "min_pixels": int(vision_process.IMAGE_MIN_TOKEN_NUM) * factor**2,
                "max_pixels": int(vision_process.IMAGE_MAX_TOKEN_NUM) * factor**2}
    return {"factor": int(vision_process.IMAGE_FACTOR), "min_pixels": int(vision_process.MIN_PIXELS),
            "max_pixels": int(vision_process.MAX_PIXELS)}


def checked_limits(explicit: Mapping[str, Any] | None, found: Mapping[str, int] | None, source: str) -> dict[str, int]:
    """The limits to build the frame with: ``found`` (from the trainer), checked against ``explicit`` options.

    Raises ``ValueError`` when an explicit option disagrees with the trainer's value, or when
    neither says ``min_pixels`` and ``max_pixels``.

    Example:
        >>> checked_limits({}, {"factor": 28, "min_pixels": 3136, "max_pixels": 12845056}, "the processor")
        {'factor': 28, 'min_pixels': 3136, 'max_pixels': 12845056}
        >>> checked_limits({"max_pixels": 1003520}, {"factor": 28, "min_pixels": 3136, "max_pixels": 12845056},
        ...                "the processor")
        Traceback (most recent call last):
        ...
        ValueError: frame_options max_pixels=1003520 disagrees with the processor (max_pixels=12845056): boxes would be decoded at the wrong scale
    """
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(LIMIT_KEYS))
    if unknown:
        raise ValueError(f"frame_options: unknown option(s) {unknown} for frame 'qwen2.5-vl'; allowed: {list(LIMIT_KEYS)}")
    if found is None:
        if "min_pixels" not in explicit or "max_pixels" not in explicit:
            raise ValueError(f"frame 'qwen2.5-vl' needs the image pixel limits and {source} cannot tell them: "
                             f"give frame_options min_pixels and max_pixels")
        return {key: int(value) for key, value in explicit.items()}
    for key, value in explicit.items():
        if int(value) != found[key]:
            raise ValueError(f"frame_options {key}={value} disagrees with {source} ({key}={found[key]}): "
                             f"boxes would be decoded at the wrong scale")
    return dict(found)
