"""Warm start: cache key, SFT examples and masking, stall detection and recovery, caching."""

import json

import numpy as np
import pytest
import torch

import medloc.builtin.warmstart as ws
import medloc.builtin.warmstart_probe as probes
from grounding_data.synthetic import SyntheticConfig, generate_split
from medloc.parsing import parse_boxes
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.builtin.warmstart import WarmStartConfig, sft_example, warm_start
from medloc.builtin.warmstart_probe import BoxProbe


def test_cache_key_depends_on_settings_and_seed():
    base = WarmStartConfig()
    assert base.key(0) == WarmStartConfig().key(0)
    assert base.key(0) != base.key(1)
    assert base.key(0) != WarmStartConfig(learning_rate=1e-3).key(0)
    assert base.key(0) != WarmStartConfig(synthetic=SyntheticConfig(noise_std=0.1)).key(0)


@pytest.mark.parametrize("kwargs, name", [({"max_steps": 0}, "max_steps"), ({"learning_rate": 0}, "learning_rate"),
                                          ({"lr_backoff": 2}, "lr_backoff"),
                                          ({"max_steps": 10, "lead_in": "easy", "lead_in_steps": 11}, "lead_in_steps"),
                                          ({"lead_in_steps": 5}, "needs a lead_in preset"),
                                          ({"label_margin": -0.1}, "label_margin")])
def test_bad_config_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        WarmStartConfig(**kwargs)


@pytest.mark.parametrize("reasoning", ["none", "before", "after"])
def test_sft_example_answers_with_the_rows_box(reasoning):
    row = generate_split("train", 1, seed=0)[0]
    example = sft_example(row, reasoning, "grid-100")
    completion = example["completion"][0]["content"]
    assert ("<think>" in completion) == (reasoning != "none")
    assert np.allclose(parse_boxes(completion, 112, 112, frame="grid-100"), row["boxes"], atol=1.2)
    assert example["prompt"][0]["content"][1] == {"type": "image"}


def test_loss_is_on_the_answer_tokens_only():
    _, processor = build_tiny_vlm()
    rows = generate_split("train", 3, seed=0)
    batch = ws.sft_batch(processor, rows)
    for i, row in enumerate(rows):
        ids = batch["labels"][i][batch["labels"][i] != -100]
        text = processor.tokenizer.decode(ids)
        assert text == sft_example(row)["completion"][0]["content"] + "<|im_end|>"
    assert batch["pixel_values"].shape[0] == 3 * 64  # every row carries its own image


def test_stall_rule():
    config = WarmStartConfig()
    good = {"format_valid_rate": 0.95, "spread": 0.6, "mIoU": 0.3, "constant_box_mIoU": 0.1}
    assert not BoxProbe().stalled(good, config)
    assert BoxProbe().stalled({**good, "spread": 0.0}, config)  # one constant box
    assert BoxProbe().stalled({**good, "format_valid_rate": 0.2}, config)  # malformed answers
    assert BoxProbe().stalled({**good, "mIoU": 0.05}, config)  # varied boxes that ignore the image


def test_probe_sees_a_constant_box(monkeypatch):
    rows = generate_split("heldout", 6, seed=0)
    monkeypatch.setattr(probes, "generate_answers", lambda *a, **k: ["<answer>[10,10,50,50]</answer>"] * len(rows))
    result = BoxProbe().measure(None, None, rows, WarmStartConfig())
    assert result["format_valid_rate"] == 1.0
    assert result["spread"] == 0.0
    assert BoxProbe().stalled(result, WarmStartConfig())


def test_probe_of_perfect_answers_has_full_spread(monkeypatch):
    rows = generate_split("heldout", 6, seed=0)
    answers = [sft_example(r)["completion"][0]["content"] for r in rows]
    monkeypatch.setattr(probes, "generate_answers", lambda *a, **k: answers)
    result = BoxProbe().measure(None, None, rows, WarmStartConfig())
    assert result["mIoU"] > 0.85 and 0.9 < result["spread"] < 1.1
    assert not BoxProbe().stalled(result, WarmStartConfig())


def _fake_probe(results):
    calls = iter(results)

    def probe(*_args, **_kwargs):
        defaults = {"mIoU": 0.3, "constant_box_mIoU": 0.1, "A@0.3": 0.5, "A@0.5": 0.3, "A@0.8": 0.05}
        return {**defaults, **next(calls)}

    return probe


def test_stalled_run_restarts_with_new_seed_and_lower_lr_then_caches(tmp_path, monkeypatch):
    calls = []

    def fake_train(config, seed, lr, progress=True, rows=None, init=None):
        calls.append((seed, lr))
        return build_tiny_vlm(seed=seed)

    monkeypatch.setattr(ws, "train_once", fake_train)
    monkeypatch.setattr(BoxProbe, "measure", _fake_probe([{"format_valid_rate": 1.0, "spread": 0.0},
                                                  {"format_valid_rate": 1.0, "spread": 0.7}]))
    config = WarmStartConfig(max_steps=1, probe_size=2, learning_rate=2e-3)
    path = warm_start(tmp_path, config, seed=5, progress=False)
    assert calls == [(5, 2e-3), (1005, 1e-3)]
    metrics = json.loads((path / "warmstart_metrics.json").read_text())
    assert metrics["attempt"] == 2 and len(metrics["attempts"]) == 2
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()

    monkeypatch.setattr(ws, "train_once", lambda *a, **k: pytest.fail("cached warm start was retrained"))
    assert warm_start(tmp_path, config, seed=5, progress=False) == path


def test_every_attempt_stalled_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(ws, "train_once", lambda config, seed, lr, *args, **kwargs: build_tiny_vlm(seed))
    monkeypatch.setattr(BoxProbe, "measure", _fake_probe([{"format_valid_rate": 1.0, "spread": 0.0}] * 2))
    with pytest.raises(RuntimeError, match="stalled in all 2 attempts"):
        warm_start(tmp_path, WarmStartConfig(max_steps=1, probe_size=2, max_attempts=2), seed=0, progress=False)
    assert not [path for path in tmp_path.iterdir() if path.is_dir()]  # nothing cached (a lock file may stay)


def test_keep_stalled_keeps_the_best_attempt_and_marks_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ws, "train_once", lambda config, seed, lr, *args, **kwargs: build_tiny_vlm(seed))
    monkeypatch.setattr(BoxProbe, "measure", _fake_probe([{"format_valid_rate": 1.0, "spread": 0.0, "mIoU": 0.05},
                                                  {"format_valid_rate": 1.0, "spread": 0.0, "mIoU": 0.02}]))
    config = WarmStartConfig(max_steps=1, probe_size=2, max_attempts=2)
    path = warm_start(tmp_path, config, seed=0, progress=False, keep_stalled=True)
    metrics = json.loads((path / "warmstart_metrics.json").read_text())
    assert metrics["stalled"] is True
    assert metrics["attempt"] == 1 and metrics["mIoU"] == 0.05
    assert len(metrics["attempts"]) == 2


def test_lead_in_steps_draw_from_the_lead_in_preset(monkeypatch):
    from grounding_data.synthetic import difficulty

    batches = []

    def record(processor, rows, *args):
        batches.append([row["attribute"] for row in rows])
        if len(batches) == 3:
            raise StopIteration  # enough batches seen; no need to train
        return real_batch(processor, rows, *args)

    real_batch = ws.sft_batch
    monkeypatch.setattr(ws, "sft_batch", record)
    config = WarmStartConfig(max_steps=3, batch_size=8, synthetic=difficulty("distractors"), lead_in="easy",
                             lead_in_steps=2)
    with pytest.raises(StopIteration):
        ws.train_once(config, seed=0, learning_rate=1e-3, progress=False)
    assert batches[0] == batches[1] == ["none"] * 8  # easy: one lesion, no phrase attribute
    assert set(batches[2]) - {"none"}  # distractors: targets named among distractors


def test_label_margin_loosens_the_target_box_and_keeps_it_in_the_image():
    row = next(r for r in generate_split("train", 20, seed=0) if r["boxes"][0][0] > 10)
    exact = parse_boxes(sft_example(row)["completion"][0]["content"], 112, 112, "grid-100")[0]
    loose = parse_boxes(sft_example(row, label_margin=0.25)["completion"][0]["content"], 112, 112, "grid-100")[0]
    width = exact[2] - exact[0]
    assert loose[0] == pytest.approx(exact[0] - 0.25 * width, abs=1.2)  # one grid-100 unit is 1.12 px
    assert loose[2] == pytest.approx(exact[2] + 0.25 * width, abs=1.2)
    assert ws.loosen_boxes([[0, 100, 10, 112]], 0.5, 112, 112) == [[0.0, 94.0, 15.0, 112.0]]


def test_warm_start_margin_setting_reaches_the_recipe():
    from medloc.app.settings import SettingsError, TrainSettings
    from medloc.app.model_setup import warm_start_config

    assert warm_start_config(TrainSettings()).label_margin == ws.LABEL_MARGIN
    assert warm_start_config(TrainSettings(difficulty="distractors")).label_margin == ws.LABEL_MARGIN
    assert warm_start_config(TrainSettings(difficulty="standard")).label_margin == 0.25
    assert warm_start_config(TrainSettings(difficulty="large")).label_margin == 0.3
    assert warm_start_config(TrainSettings(warm_start_margin=0.0)).label_margin == 0.0
    with pytest.raises(SettingsError, match="--warm-start-margin: must be a number in \\[0, 1\\], got 1.5"):
        TrainSettings(warm_start_margin=1.5).validate()


def test_hard_preset_recipes_have_a_lead_in():
    from medloc.app.settings import TrainSettings
    from medloc.app.model_setup import warm_start_config

    config = warm_start_config(TrainSettings(difficulty="distractors"))
    assert (config.lead_in, config.lead_in_steps, config.max_steps) == ("easy", 500, 1200)
    config = warm_start_config(TrainSettings(difficulty="standard"))
    assert (config.lead_in, config.lead_in_steps, config.max_steps) == ("easy", 300, 1000)
    assert warm_start_config(TrainSettings(difficulty="distractors", warm_start_steps=40)).lead_in_steps == 20
    assert warm_start_config(TrainSettings()).lead_in is None


@pytest.mark.slow
@pytest.mark.parametrize("freeze_vision", [False, True])
def test_train_once_updates_the_model(tmp_path, freeze_vision):
    torch.set_num_threads(1)
    config = WarmStartConfig(max_steps=2, batch_size=2, freeze_vision=freeze_vision)
    before = build_tiny_vlm(seed=0)[0].state_dict()
    model, _ = ws.train_once(config, seed=0, learning_rate=1e-3, progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(".language_model." in k for k in changed)
    assert any(".visual." in k for k in changed) != freeze_vision


def _row_files(tmp_path, count):
    """``count`` synthetic grounding rows with their images saved as PNG files (a user's dataset)."""
    rows = []
    for row in generate_split("train", count, seed=3):
        path = tmp_path / f"{row['id']}.png"
        row["image"].resize((448, 448)).save(path)  # larger than the warm start keeps in memory
        scale = 448 / row["width"]
        rows.append({**row, "image": str(path), "boxes": [[v * scale for v in row["boxes"][0]]], "width": 448,
                     "height": 448})
    return rows


def test_warm_start_on_rows_trains_on_them_and_probes_on_rows_it_did_not_train_on(tmp_path, monkeypatch):
    rows = _row_files(tmp_path, 12)
    seen = {}

    def fake_train(config, seed, lr, progress=True, rows=None, init=None):
        seen["train"] = rows
        return build_tiny_vlm(seed=seed)

    def fake_probe(self, model, processor, probe_rows, config):
        seen["probe"] = probe_rows
        return {"format_valid_rate": 1.0, "spread": 0.5, "mIoU": 0.4, "constant_box_mIoU": 0.1, "A@0.5": 0.3,
                "A@0.8": 0.0}

    monkeypatch.setattr(ws, "train_once", fake_train)
    monkeypatch.setattr(BoxProbe, "measure", fake_probe)
    config = WarmStartConfig(max_steps=1, probe_size=8, rows_fingerprint=ws.rows_fingerprint(rows))
    path = warm_start(tmp_path / "cache", config, seed=0, progress=False, rows=rows)
    trained, probed = {r["id"] for r in seen["train"]}, {r["id"] for r in seen["probe"]}
    assert len(probed) == 3 and len(trained) == 9 and not trained & probed  # a quarter at most is the probe
    assert {r["image"].size for r in seen["train"]} == {(224, 224)}  # shrunk once, in memory
    assert seen["train"][0]["boxes"] == next(r for r in rows if r["id"] == seen["train"][0]["id"])["boxes"]
    assert path.name == config.key(0) != WarmStartConfig(max_steps=1, probe_size=8).key(0)
    other = _row_files(tmp_path, 13)
    assert ws.rows_fingerprint(other) != config.rows_fingerprint
    with pytest.raises(ValueError, match="rows_fingerprint must be rows_fingerprint\\(rows\\)"):
        warm_start(tmp_path / "cache", config, seed=0, progress=False, rows=other)
    with pytest.raises(ValueError, match="rows_fingerprint"):
        warm_start(tmp_path / "cache", config, seed=0, progress=False)


def test_synthetic_cache_keys_are_unchanged_by_the_rows_field():
    # the key of the built-in easy warm start before rows existed: cached models stay valid
    assert WarmStartConfig(label_margin=0.15).key(0) == "ed07e5a89f9f8d1a"


def test_row_stream_visits_every_row_each_pass_in_a_new_order():
    stream = ws.row_stream([{"id": i} for i in range(5)], seed=1)
    first, second = [next(stream)["id"] for _ in range(5)], [next(stream)["id"] for _ in range(5)]
    assert sorted(first) == sorted(second) == list(range(5)) and first != second


def test_warm_start_recipe_on_a_dataset_uses_its_rows_not_the_preset():
    from medloc.app.settings import TrainSettings
    from medloc.app.model_setup import warm_start_config

    rows = [{"id": "a", "image": "a.jpg", "phrase": "the polyp", "boxes": [[1, 2, 3, 4]], "width": 8, "height": 8}]
    config = warm_start_config(TrainSettings(difficulty="standard"), rows)
    assert config.rows_fingerprint == ws.rows_fingerprint(rows)
    assert (config.lead_in, config.label_margin) == (None, ws.LABEL_MARGIN)
    assert warm_start_config(TrainSettings(), None).rows_fingerprint is None


def test_runs_started_together_build_one_warm_start(tmp_path, monkeypatch):
    import threading
    import time as clock

    builds = []

    def slow_train(config, seed, lr, progress=True, rows=None, init=None):
        builds.append(seed)
        clock.sleep(0.5)  # the second run arrives while this one builds
        return build_tiny_vlm(seed=seed)

    monkeypatch.setattr(ws, "train_once", slow_train)
    monkeypatch.setattr(BoxProbe, "measure", _fake_probe([{"format_valid_rate": 1.0, "spread": 0.5}]))
    config = WarmStartConfig(max_steps=1, probe_size=2, max_attempts=1)
    paths = []
    runs = [threading.Thread(target=lambda: paths.append(warm_start(tmp_path, config, seed=0, progress=False)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert builds == [0] and paths[0] == paths[1] == tmp_path / config.key(0)


def test_rows_fingerprint_of_images_in_memory_is_their_pixels():
    from PIL import Image

    row = {"id": "a", "phrase": "the polyp", "boxes": [[1, 2, 3, 4]], "width": 8, "height": 8}
    first, again = ({**row, "image": Image.new("RGB", (8, 8), "red")} for _ in range(2))
    assert ws.rows_fingerprint([first]) == ws.rows_fingerprint([again])  # two objects, same pixels
    assert ws.rows_fingerprint([first]) != ws.rows_fingerprint([{**row, "image": Image.new("RGB", (8, 8), "blue")}])


@pytest.mark.parametrize("count", [0, 3])
def test_too_few_rows_for_a_warm_start_are_refused(tmp_path, count):
    rows = _row_files(tmp_path, count) if count else []
    config = WarmStartConfig(max_steps=1, rows_fingerprint=ws.rows_fingerprint(rows))
    with pytest.raises(ValueError, match=f"warm_start: {count} training row\\(s\\); a warm start on rows needs at "
                                         "least 4"):
        warm_start(tmp_path / "cache", config, seed=0, progress=False, rows=rows)
