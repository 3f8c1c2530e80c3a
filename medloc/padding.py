"""Left padding for the processor of a GRPO run on a vision-language model (works around TRL #5785).

TRL's ``GRPOTrainer`` pads the prompt ids on the left, but for the loss it calls the processor again
to get the image fields, ``mm_token_type_ids`` among them (Qwen2-VL, Qwen2.5-VL), and that call pads
on the processor's own side. A processor that pads on the right (the default of most tokenizers, the
built-in model's among them) then marks the image tokens at the wrong places in every prompt shorter
than the longest of its batch: the model computes their M-RoPE positions wrong, so the
log-probabilities, the KL and the gradient of those completions are wrong, without an error.
Measured on the built-in model (VQA prompts of 181 to 224 tokens): the chosen letter's log-probability
at the loss was -9 to -13 where generation had drawn it at -0.7 to -1.3, for each shorter prompt
(huggingface/trl#5785; TRL 1.16 still pads this way). When TRL loads the processor itself it asks
for left padding; a processor you pass must pad left too. :func:`pad_left` sets it;
:class:`medloc.ResumableGRPOTrainer` and the curricula's ``on_train_begin`` call it.

Example:
    >>> from types import SimpleNamespace
    >>> processor = SimpleNamespace(tokenizer=SimpleNamespace(padding_side="right"), image_processor=object())
    >>> pad_left(processor), processor.tokenizer.padding_side
    (True, 'left')
    >>> pad_left(processor)
    False
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def pad_left(processing_class: Any) -> bool:
    """Make a multimodal processor pad on the left; True when it padded on the right before (logged once).

    A processor without an image processor (text only) or without a tokenizer is left as it is:
    TRL's text path pads the prompt ids itself.
    """
    tokenizer = getattr(processing_class, "tokenizer", None)
    if getattr(processing_class, "image_processor", None) is None or tokenizer is None:
        return False
    if getattr(tokenizer, "padding_side", "left") == "left":
        return False
    logger.warning(
        "medloc: the processor padded on the %r; set to 'left' for GRPO (with right padding TRL marks the image "
        "tokens of shorter prompts at the wrong positions in the loss, huggingface/trl#5785).",
        tokenizer.padding_side,
    )
    tokenizer.padding_side = "left"
    return True
