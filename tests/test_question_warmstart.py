"""The question tasks' warm start: its recipe and cache key, its two stages, its examples, probe and stall
rule, and ``prepare_model`` choosing each task's warm start."""

import json

import pytest
import torch

import medloc.app.model_setup as model_setup
import medloc.builtin.warmstart as ws
import medloc.builtin.warmstart_probe as probes
from grounding_data.synthetic import difficulty
from grounding_data.synthetic_questions import question_split
from medloc.app.settings import TrainSettings
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.builtin.warmstart import TASK_RECIPES, WarmStartConfig, warm_start
from medloc.tasks import AnswerSetup, get_task


@pytest.mark.parametrize("task", ["vqa", "grade"])
def test_a_question_task_gets_its_own_recipe_from_the_grounding_warm_start(task):
    config = model_setup.warm_start_config(TrainSettings(task=task, reasoning="after", difficulty="standard"))
    grounding = model_setup.warm_start_config(TrainSettings(difficulty="standard"))
    assert (config.task, config.reasoning, config.max_steps) == (task, "after", TASK_RECIPES[task]["max_steps"])
    assert config.learning_rate == TASK_RECIPES[task]["learning_rate"]
    assert config.synthetic == difficulty("standard")
    assert config.base == grounding  # the grounding warm start a grounding run builds: one cache entry for both
    assert config.base.key(0) == grounding.key(0)


def test_warm_start_settings_reach_both_stages():
    config = model_setup.warm_start_config(TrainSettings(task="grade", warm_start_steps=30, warm_start_margin=0.2))
    assert (config.max_steps, config.base.max_steps, config.base.label_margin) == (30, 30, 0.2)


def test_question_cache_keys_differ_by_task_stage_and_seed_and_grounding_keys_are_unchanged():
    vqa = model_setup.warm_start_config(TrainSettings(task="vqa"))
    grade = model_setup.warm_start_config(TrainSettings(task="grade"))
    keys = {vqa.key(0), vqa.key(1), grade.key(0), vqa.base.key(0),
            model_setup.warm_start_config(TrainSettings(task="vqa", reasoning="after")).key(0),
            model_setup.warm_start_config(TrainSettings(task="vqa", difficulty="standard")).key(0)}
    assert len(keys) == 6
    assert vqa.key(0) == model_setup.warm_start_config(TrainSettings(task="vqa")).key(0)
    assert WarmStartConfig(label_margin=0.15).key(0) == "ed07e5a89f9f8d1a"  # cached grounding models stay valid


def test_bad_question_configs_are_named():
    with pytest.raises(ValueError, match="unknown task 'quiz'"):
        WarmStartConfig(task="quiz")
    with pytest.raises(ValueError, match="lead_in and rows are for grounding warm starts, not task='vqa'"):
        WarmStartConfig(task="vqa", lead_in="easy", lead_in_steps=1)


@pytest.mark.parametrize("reasoning", ["none", "after"])
@pytest.mark.parametrize("task", ["vqa", "grade"])
def test_question_examples_are_the_tasks_prompt_and_reference_answer_and_score_perfectly(task, reasoning):
    spec, setup = get_task(task), AnswerSetup(reasoning)
    rows = question_split(task, "train", 6)
    examples = [ws.sft_example(row, reasoning, task=task) for row in rows]
    answers = [example["completion"][0]["content"] for example in examples]
    assert [example["prompt"] for example in examples] == [spec.prompt(row, setup) for row in rows]
    assert spec.score(answers, rows, setup).metrics["accuracy"] == 1.0
    assert ("<think>" in answers[0]) == (reasoning == "after")
    _, processor = build_tiny_vlm()
    batch = ws.sft_batch(processor, rows[:2], reasoning, task=task)
    labels = batch["labels"][0]
    assert processor.tokenizer.decode(labels[labels != -100]) == answers[0] + "<|im_end|>"


def test_the_question_stream_starts_past_the_grpo_rows():
    stream = ws.task_stream(get_task("vqa"), difficulty("easy"), seed=0, batch=4)
    first = [next(stream)["id"] for _ in range(6)]
    expected = [row["id"] for row in question_split("vqa", "train", 6, start=ws.TRAIN_START)]
    assert first == expected and not set(first) & {row["id"] for row in question_split("vqa", "train", 50)}


def test_question_probe_and_stall_rule(monkeypatch):
    rows = question_split("grade", "heldout", 4)
    answers = ["<answer>seven</answer>", "<answer>9</answer>", "junk", f"<answer>{rows[3]['grade']}</answer>"]
    monkeypatch.setattr(probes, "generate_answers", lambda *a, **k: answers)
    config = WarmStartConfig(task="grade")
    rule = probes.probe_for("grade")
    result = rule.measure(None, None, rows, config)
    assert (result["valid_rate"], result["accuracy"], result["n"]) == (0.25, 0.25, 4)
    assert result["sample_answers"] == answers
    assert rule.stalled(result, config)  # 1 readable answer in 4: below min_valid_rate
    assert not rule.stalled({**result, "valid_rate": 0.96}, config)


def test_two_stages_build_the_grounding_warm_start_first_and_train_from_it(tmp_path, monkeypatch):
    trained = []

    def fake_train(config, seed, lr, progress=True, rows=None, init=None):
        trained.append((config.task, init, lr))
        return build_tiny_vlm(seed=seed)

    def fake_measure(self, model, processor, rows, config):
        if config.task == "grounding":
            return {"format_valid_rate": 1.0, "spread": 0.6, "mIoU": 0.3, "constant_box_mIoU": 0.1, "A@0.5": 0.2,
                    "A@0.8": 0.0}
        assert {row["source"] for row in rows} == {"synthetic-vqa"}
        return {"accuracy": 0.5, "valid_rate": 0.98, "n": len(rows)}

    monkeypatch.setattr(ws, "train_once", fake_train)
    monkeypatch.setattr(probes.BoxProbe, "measure", fake_measure)
    monkeypatch.setattr(probes.AnswerProbe, "measure", fake_measure)
    config = model_setup.warm_start_config(TrainSettings(task="vqa", warm_start_steps=2))
    path = warm_start(tmp_path, config, seed=0, progress=False)
    base = tmp_path / config.base.key(0)
    assert trained == [("grounding", None, config.base.learning_rate),
                       ("vqa", base, TASK_RECIPES["vqa"]["learning_rate"])]
    metrics = json.loads((path / ws.METRICS_FILE).read_text())
    assert path.name == config.key(0) and metrics["valid_rate"] == 0.98 and metrics["stalled"] is False
    trained.clear()
    assert warm_start(tmp_path, config, seed=0, progress=False) == path and trained == []  # both stages cached


@pytest.mark.parametrize("task, expected", [("vqa", "vqa"), ("grade", "grade"), ("grounding", "grounding")])
def test_prepare_model_uses_the_tasks_warm_start(tmp_path, monkeypatch, task, expected):
    seen = {}

    def fake_warm_start(cache, config, seed, progress, keep_stalled, rows):
        seen["config"] = config
        folder = tmp_path / config.key(seed)
        folder.mkdir()
        (folder / ws.METRICS_FILE).write_text(json.dumps({"accuracy": 0.4, "valid_rate": 0.97, "stalled": False}))
        return folder

    monkeypatch.setattr(model_setup, "warm_start", fake_warm_start)
    path, record = model_setup.prepare_model(TrainSettings(task=task, cache_dir=str(tmp_path)), progress=False)
    assert seen["config"].task == expected and path == str(tmp_path / seen["config"].key(0))
    assert (record["task"], record["accuracy"], record["valid_rate"], record["built"]) == (expected, 0.4, 0.97, True)


def test_a_real_model_skips_the_warm_start_for_every_task(monkeypatch):
    monkeypatch.setattr(model_setup, "warm_start", lambda *a, **k: pytest.fail("a real model was warm-started"))
    for task in ("vqa", "grade"):
        assert model_setup.prepare_model(TrainSettings(task=task, model="Qwen/Qwen2-VL-2B-Instruct"),
                                         progress=False) == ("Qwen/Qwen2-VL-2B-Instruct", None)


@pytest.mark.slow
def test_a_two_step_question_warm_start_trains_from_the_grounding_model(tmp_path):
    torch.set_num_threads(1)
    base = WarmStartConfig(max_steps=2, batch_size=2, probe_size=2, max_attempts=1)
    config = WarmStartConfig(task="vqa", base=base, max_steps=2, batch_size=2, probe_size=3, max_attempts=1)
    path = warm_start(tmp_path, config, seed=0, progress=False, keep_stalled=True)
    metrics = json.loads((path / ws.METRICS_FILE).read_text())
    assert (tmp_path / base.key(0) / ws.METRICS_FILE).is_file() and path.name == config.key(0)
    assert metrics["n"] == 3 and 0 <= metrics["valid_rate"] <= 1 and metrics["config"]["task"] == "vqa"
    grounding_weights = ws.load_model(tmp_path / base.key(0))[0].state_dict()
    question_weights = ws.load_model(path)[0].state_dict()
    assert any(not torch.equal(grounding_weights[key], question_weights[key]) for key in grounding_weights)


def test_the_warm_start_of_a_run_with_class_descriptions_learns_prompts_that_carry_them(tmp_path):
    descriptions = tmp_path / "grades.yaml"
    descriptions.write_text("'0': the lesion spans less than 19 pixels\n'3': the lesion spans more than 33 pixels\n")
    plain = model_setup.warm_start_config(TrainSettings(task="grade"))
    described = model_setup.warm_start_config(TrainSettings(task="grade", class_descriptions=str(descriptions)))
    assert described.descriptions == (("0", "the lesion spans less than 19 pixels"),
                                      ("3", "the lesion spans more than 33 pixels"))
    assert described.key(0) != plain.key(0) and described.base == plain.base  # its own cache entry, same grounding stage
    row = question_split("grade", "train", 1)[0]
    prompt = ws.sft_example(row, task="grade", descriptions=dict(described.descriptions))["prompt"][0]["content"][0]["text"]
    assert "Known classes:\n0: the lesion spans less than 19 pixels" in prompt
    with pytest.raises(ValueError, match="descriptions are for question tasks, not task='grounding'"):
        ws.WarmStartConfig(descriptions=(("0", "small"),))
