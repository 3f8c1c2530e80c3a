"""The coordinate frame a run's model writes boxes in: ``--frame``, the built-in model's, or the
pretrained model's own (from its type).

Example:
    >>> from types import SimpleNamespace
    >>> model_frame(SimpleNamespace(config=SimpleNamespace(model_type="qwen2_vl")), processor=None)
    GridFrame(n=1000)
"""

from __future__ import annotations

import logging
from typing import Any

from grounding_data.frames import CoordinateFrame, get_frame
from medloc.app.model_setup import warm_start_config
from medloc.app.settings import TrainSettings
from medloc.builtin import is_builtin_model
from medloc.integrations.pixel_limits import processor_limits

logger = logging.getLogger(__name__)


def model_frame(model: Any, processor: Any) -> CoordinateFrame:
    """The frame a pretrained model writes boxes in, from its ``model_type``.

    Qwen2-VL: 0..1000 grid; Qwen2.5-VL: pixels of the processor's resized image (its limits read by
    :func:`medloc.integrations.pixel_limits.processor_limits`; a processor without them is an error);
    Qwen3-VL: 0..1000.
    """
    model_type = getattr(model.config, "model_type", "")
    if model_type in ("qwen2_5_vl",):
        try:
            return get_frame("qwen2.5-vl", **processor_limits(processor))
        except ValueError as error:
            raise ValueError(f"model type {model_type!r}: boxes are read in the pixels of the processor's resized "
                             f"image, but {error}") from None
    if model_type in ("qwen2_vl", "qwen3_vl", "qwen3_vl_moe"):
        return get_frame("grid-1000")
    logger.warning("Unknown model type %r: assuming boxes in pixels; set --frame to override.", model_type)
    return get_frame("pixels")


def run_frame(settings: TrainSettings, model: Any, processor: Any) -> CoordinateFrame:
    """The frame of a run: ``--frame``, else the built-in model's warm-start frame, else :func:`model_frame`.

    Example:
        >>> from medloc.app.settings import TrainSettings
        >>> run_frame(TrainSettings(), model=None, processor=None).name
        'grid-100'
    """
    if settings.frame:
        return get_frame(settings.frame)
    if is_builtin_model(settings.model):
        return get_frame(warm_start_config(settings).frame)
    return model_frame(model, processor)
