"""The model card a run writes (medloc's, never TRL's default): what ran, the results, how to use it."""

from __future__ import annotations

from types import SimpleNamespace

from medloc.app.model_card import library_versions, model_card
from medloc.app.summary import TrainSummary
from medloc.app.training import RunTrainer

BEFORE = {"A@0.5": 0.547, "A@0.8": 0.008, "mIoU": 0.517, "pseudo_mAP": 0.2, "format_valid_rate": 1.0, "n": 128}
AFTER = {"A@0.5": 0.891, "A@0.8": 0.102, "mIoU": 0.633, "pseudo_mAP": 0.35, "format_valid_rate": 1.0, "n": 128}
METRICS = ("A@0.5", "A@0.8", "pseudo_mAP", "mIoU", "format_valid_rate")


def summary(**changes) -> TrainSummary:
    fields = dict(
        task="grounding", schedule="adaptive", steps=200, seconds=245.0, start_threshold=0.3, final_threshold=0.55,
        threshold_trajectory=[(0, 0.3), (30, 0.45), (45, 0.55)], raises=[(30, 0.3, 0.45), (45, 0.45, 0.55)],
        threshold_note="", heldout=AFTER, heldout_history=[(0, BEFORE), (200, AFTER)], heldout_lines=[],
        output_dir="medloc-runs/20261202-083015-grounding-adaptive",
        tensorboard_dir="medloc-runs/20261202-083015-grounding-adaptive/tensorboard",
        final_model_dir="medloc-runs/20261202-083015-grounding-adaptive/final_model",
        metrics_file="medloc-runs/20261202-083015-grounding-adaptive/metrics.jsonl",
        warm_start={"mIoU": 0.517, "A@0.5": 0.547, "stalled": False, "built": True, "seconds": 182.0},
        seed=0, max_steps=200, grpo_seconds=52.0, heldout_seconds=6.0,
        settings={"model": "medloc/tiny-qwen2-vl", "data": "synthetic", "difficulty": "easy", "heldout_rows": 128,
                  "reasoning": "none", "num_generations": 8, "prompts_per_step": 4, "learning_rate": 1e-4,
                  "temperature": 0.5, "beta": 0.04, "max_completion_length": 24},
        schedule_options={"start": 0.3, "window": 30, "min_margin": 0.05},
        command="medloc train --schedule adaptive", versions=library_versions())
    return TrainSummary(**{**fields, **changes})


def test_the_card_says_what_ran_and_how_to_use_it():
    card = model_card(summary(), METRICS)
    assert card.startswith("---\nlibrary_name: transformers\n")
    for text in ("`medloc/tiny-qwen2-vl`, the built-in tiny Qwen2-VL-architecture model",  # base model
                 "| task | `grounding` (boxes) |",
                 "synthetic lesion images, preset `easy`", "128 rows held out",  # data
                 "`1[score >= tau]`, tau from the schedule",  # rewards
                 "`adaptive` (`start=0.3`, `window=30`, `min_margin=0.05`)",  # schedule with its options
                 "raised at step 30 (0.30 -> 0.45), step 45 (0.45 -> 0.55)",  # tau raises
                 "| seed | 0 |", "medloc train --schedule adaptive",  # seed and command line
                 "warm start 3m02s (built once, cached for later runs), GRPO 52s",
                 "| mIoU | 0.517 | 0.633 |", "before GRPO (step 0)", "after GRPO (step 200)",  # held-out results
                 'AutoModelForImageTextToText.from_pretrained("medloc-runs/20261202-083015-grounding-adaptive/'
                 'final_model")',  # how to load it
                 "medloc eval --model medloc-runs/20261202-083015-grounding-adaptive/final_model",  # evaluate it
                 "medloc train --config medloc-runs/20261202-083015-grounding-adaptive/settings.json",
                 f"transformers {library_versions()['transformers']}", f"trl {library_versions()['trl']}"):
        assert text in card, text
    for trl_default in ("huggingface.co/None", "time machine", "licence: license", "base_model:"):
        assert trl_default not in card  # a local model names no hub base model


def test_a_hub_model_is_the_base_model_and_a_checkpoint_card_says_it_is_in_progress():
    card = model_card(summary(settings={"model": "Qwen/Qwen2.5-VL-3B-Instruct"}, warm_start=None, steps=66),
                      METRICS, in_progress=True)
    assert "base_model: Qwen/Qwen2.5-VL-3B-Instruct" in card
    assert "**In progress: 66 of 200 GRPO steps done**" in card


def test_trls_card_writer_writes_medlocs_card_instead():
    written = []
    trainer = SimpleNamespace(write_card=lambda: written.append("medloc"), is_world_process_zero=lambda: True)
    RunTrainer.create_model_card(trainer, model_name="run")  # what GRPOTrainer._save_checkpoint calls
    assert written == ["medloc"]


def test_a_question_tasks_card_names_its_question_warm_start():
    warm = {"task": "vqa", "accuracy": 0.41, "valid_rate": 0.98, "stalled": False, "built": False, "seconds": 1.0}
    card = model_card(summary(task="vqa", schedule=None, warm_start=warm, heldout={"accuracy": 0.5, "valid_rate": 1.0,
                                                                                     "n": 128}), ("accuracy",))
    assert ("warm-started (supervised) on synthetic lesion images, then on synthetic vqa questions (its probe on the "
            "warm start's own held-out rows: accuracy 0.410, valid-answer rate 0.98)") in card
