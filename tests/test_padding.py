"""The processor of a GRPO run pads on the left, so TRL's loss sees the image tokens where they are (trl#5785)."""

from __future__ import annotations

import logging

import pytest
import torch
from trl import GRPOTrainer

from medloc.builtin.tiny_model import build_processor, build_tiny_vlm
from medloc.padding import pad_left
from medloc.trainer import ResumableGRPOTrainer
from tests.trl_support import grounding_dataset, grpo_config, iou_curriculum, strong_ious


def test_pad_left_turns_a_right_padding_processor_and_says_so(caplog):
    processor = build_processor()
    assert processor.tokenizer.padding_side == "right"  # the built-in model's default, like most tokenizers
    with caplog.at_level(logging.WARNING, logger="medloc.padding"):
        assert pad_left(processor) is True
    assert processor.tokenizer.padding_side == "left"
    assert "trl#5785" in caplog.text
    assert pad_left(processor) is False  # already left: nothing to do, nothing logged twice


def test_pad_left_leaves_a_text_tokenizer_and_none_alone():
    tokenizer = build_processor().tokenizer  # no image processor: TRL pads text prompts itself
    assert pad_left(tokenizer) is False
    assert tokenizer.padding_side == "right"
    assert pad_left(None) is False


def mixed_length_dataset() -> Dataset:
    """The grounding rows with prompts of two text lengths (so a batch pads its shorter prompts)."""
    def lengthen(row: dict, index: int) -> dict:
        if index % 2:
            row["prompt"][0]["content"][0]["text"] = "Box the bright square on the grey background, please."
        return row

    return grounding_dataset(4).map(lengthen, with_indices=True)


def image_marks_in_loss(trainer, crash_ok: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run one step; per forward of the loss, (image-token positions in the ids, positions TRL marks as image).
    ``crash_ok``: a forward that fails on the marks (M-RoPE's shapes disagree) ends the step."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = trainer._get_per_token_logps_and_entropies
    image_id = trainer.processing_class.tokenizer.convert_tokens_to_ids("<|image_pad|>")

    def spy(model, input_ids, attention_mask, *args, mm_token_type_ids=None, **kwargs):
        seen.append((input_ids == image_id, mm_token_type_ids == 1))
        return original(model, input_ids, attention_mask, *args, mm_token_type_ids=mm_token_type_ids, **kwargs)

    trainer._get_per_token_logps_and_entropies = spy
    try:
        trainer.train()
    except RuntimeError:
        if not crash_ok:
            raise
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("trainer_class", [GRPOTrainer, ResumableGRPOTrainer])
def test_trl_marks_the_image_tokens_where_they_are_for_every_prompt(tmp_path, trainer_class):
    model, processor = build_tiny_vlm(seed=0)  # pads on the right, as its tokenizer was built
    curriculum = iou_curriculum(strong_ious, "fixed", threshold=0.5)
    trainer = trainer_class(model=model, processing_class=processor, reward_funcs=[curriculum.reward],
                            args=grpo_config(tmp_path, max_steps=1, per_device_train_batch_size=16),
                            train_dataset=mixed_length_dataset(), callbacks=[curriculum])
    seen = image_marks_in_loss(trainer)
    assert seen, "the loss never ran"
    for image_tokens, marked in seen:
        assert image_tokens.any(dim=1).all()
        assert torch.equal(image_tokens, marked)


@pytest.mark.slow
def test_without_left_padding_trl_marks_the_image_tokens_of_shorter_prompts_elsewhere(tmp_path, monkeypatch):
    """What the fix prevents (if TRL fixes #5785, this test fails: then drop the work-around)."""
    monkeypatch.setattr("medloc.curriculum.pad_left", lambda processing_class: False)
    model, processor = build_tiny_vlm(seed=0)
    curriculum = iou_curriculum(strong_ious, "fixed", threshold=0.5)
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[curriculum.reward],
                          args=grpo_config(tmp_path, max_steps=1, per_device_train_batch_size=16),
                          train_dataset=mixed_length_dataset(), callbacks=[curriculum])
    seen = image_marks_in_loss(trainer, crash_ok=True)  # here the tiny model's M-RoPE even fails on them
    assert any(not torch.equal(image_tokens, marked) for image_tokens, marked in seen)
