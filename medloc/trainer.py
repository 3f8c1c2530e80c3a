"""TRL's ``GRPOTrainer`` with the fixes ``medloc train`` needs: resume (see :mod:`medloc.checkpoints`) and
left padding.

transformers 5.23 resumes Qwen2-VL-family checkpoints without their weights (the saved key names
are not the model's; huggingface/transformers#43701). This subclass loads them through
``from_pretrained`` instead, so a resumed run continues from the checkpoint's policy.

TRL's ``RepeatSampler`` seeds its generator once, so the second epoch's order continues from the
first; a resume in epoch ``e >= 1`` starts a fresh generator and replays epoch 0's order. This
subclass reseeds the sampler with ``seed + epoch`` at every epoch (epoch 0 keeps TRL's order), so
a resumed run reads the rows in the same order as an uninterrupted one.

A processor passed in that pads on the right is set to pad on the left (:func:`medloc.padding.pad_left`):
with right padding TRL computes the loss of every prompt shorter than the longest of its batch with the
image tokens in the wrong places (huggingface/trl#5785).

Use it in your own script exactly like ``trl.GRPOTrainer``.

Example:
    >>> import trl
    >>> issubclass(ResumableGRPOTrainer, trl.GRPOTrainer)
    True
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Sampler
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from medloc.checkpoints import load_checkpoint_weights
from medloc.padding import pad_left


class EpochSeededSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` reseeded with ``seed + epoch`` when transformers calls ``set_epoch``.

    Example:
        >>> sampler = EpochSeededSampler(list(range(4)), mini_repeat_count=1, seed=0)
        >>> sampler.set_epoch(1); first = list(sampler)
        >>> sampler.set_epoch(0); _ = list(sampler); sampler.set_epoch(1)
        >>> list(sampler) == first
        True
    """

    def set_epoch(self, epoch: int) -> None:
        """Restart the shuffle from ``seed + epoch`` (no-op without shuffle or seed)."""
        if self.shuffle and self.seed is not None:
            self.generator.manual_seed(self.seed + epoch)


class ResumableGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` that resumes with the checkpoint's weights and the uninterrupted run's data order,
    and whose processor pads on the left."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pad_left(self.processing_class)

    def _get_train_sampler(self, dataset: Any = None) -> Sampler:
        sampler = super()._get_train_sampler(dataset)
        if type(sampler) is not RepeatSampler:
            return sampler
        return EpochSeededSampler(sampler.data_source, sampler.mini_repeat_count, sampler.batch_size,
                                  sampler.repeat_count, sampler.shuffle, sampler.seed)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        target = self.model if model is None else model
        if self.is_fsdp_enabled or self.is_deepspeed_enabled or not load_checkpoint_weights(
            target, resume_from_checkpoint
        ):
            super()._load_from_checkpoint(resume_from_checkpoint, model)
