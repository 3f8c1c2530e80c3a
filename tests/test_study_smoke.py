"""A short smoke run of the schedule study (the real study is a benchmark, not a test)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_study_runs_arms_and_writes_tables(tmp_path):
    command = [
        sys.executable, str(ROOT / "experiments" / "compare_schedules.py"),
        "--arms", "fixed-0.5", "soft-iou", "quick=informative:window=1", "--seeds", "0", "--regimes", "easy",
        "--max-steps", "2", "--eval-every", "1", "--heldout-rows", "4", "--jobs", "1", "--early", "2",
        "--set", "warm_start=false", "prompts_per_step=2", "num_generations=2", "max_completion_length=6",
        "--work-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--name", "smoke",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "results" / "smoke.jsonl").read_text().splitlines()]
    assert sorted(r["arm"] for r in records) == ["fixed-0.5", "quick", "soft-iou"]
    assert all(r["steps"] == 2 and [step for step, _ in r["heldout_history"]] == [0, 1, 2] for r in records)
    table = (tmp_path / "results" / "smoke.md").read_text()
    assert "| fixed-0.5 | 1 |" in table and "| soft-iou | 1 |" in table
    # a second call finds every run done and only reports
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 0 and "[1/" not in again.stdout


def load_study_script():
    spec = importlib.util.spec_from_file_location("compare_schedules", ROOT / "experiments" / "compare_schedules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(arm, seed, miou, a08=0.0, regime="easy", start_miou=0.4):
    return {"arm": arm, "seed": seed, "regime": regime, "steps": 2, "heldout": {"mIoU": miou, "A@0.5": 0.5,
            "A@0.8": a08, "pseudo_mAP": 0.2}, "start": {"A@0.5": 0.4, "A@0.8": 0.0, "mIoU": start_miou, "pseudo_mAP": 0.1},
            "early_zero_variance_share": 0.5, "tau_level_steps": {"0.45": 10}, "threshold_trajectory": [[0, 0.3]],
            "heldout_history": [[0, {"mIoU": start_miou}], [2, {"mIoU": miou}]]}


def test_report_pairs_arms_with_fixed_05_and_the_best_fixed_threshold():
    study = load_study_script()
    results = [run("fixed-0.5", seed, 0.50 + 0.01 * seed) for seed in range(5)]
    results += [run("fixed-0.6", seed, 0.52 + 0.01 * seed) for seed in range(5)]
    results += [run("adaptive", seed, value) for seed, value in enumerate([0.53, 0.55, 0.53, 0.56, 0.55])]
    table = study.report(results, ["fixed-0.5", "fixed-0.6", "adaptive"])["easy"]
    assert table["best_fixed"] == "fixed-0.6"
    versus_05 = table["arms"]["adaptive"]["vs_reference_mIoU"]
    assert versus_05["mean"] == pytest.approx(0.024) and versus_05["positive"] == 5 and versus_05["n"] == 5
    # differences 0.03, 0.04, 0.01, 0.03, 0.01: sd 0.01342, t(0.975, 4) = 2.776
    assert versus_05["low"] == pytest.approx(0.024 - 2.776 * 0.013416 / 5 ** 0.5, abs=1e-5)
    versus_best = table["arms"]["adaptive"]["vs_best_fixed_mIoU"]
    assert versus_best["mean"] == pytest.approx(0.004) and versus_best["positive"] == 3
    assert table["arms"]["fixed-0.6"]["vs_best_fixed_mIoU"] is None  # not compared with itself
    # the warm start counts each seed once, not once per arm
    assert table["warm_start"]["mIoU"] == "0.400+-0.000"
    text = study.markdown({"easy": table})
    assert "| adaptive | +0.024 [+0.007, +0.041] 5/5+ | +0.004 [" in text


def test_a_study_without_fixed_arms_has_no_paired_table():
    study = load_study_script()
    table = study.report([run("soft-iou", seed, 0.45) for seed in range(3)], ["soft-iou"])
    text = study.markdown(table)
    assert table["easy"]["best_fixed"] is None and "No fixed-threshold arm." in text
    assert "Paired differences against" not in text and "| soft-iou | 3 |" in text


def test_a_best_fixed_threshold_of_05_gets_one_set_of_paired_columns():
    study = load_study_script()
    results = [run("fixed-0.5", seed, 0.50) for seed in range(3)] + [run("fixed-0.3", seed, 0.45) for seed in range(3)]
    results += [run("adaptive", seed, 0.52) for seed in range(3)]
    table = study.report(results, ["fixed-0.5", "fixed-0.3", "adaptive"])
    text = study.markdown(table)
    assert table["easy"]["best_fixed"] == "fixed-0.5"
    assert "Paired differences against fixed-0.5, the best fixed threshold:" in text
    assert "| arm | mIoU vs fixed-0.5 | A@0.8 vs fixed-0.5 |" in text
    assert "| adaptive | +0.020 [+0.020, +0.020] 3/3+ | +0.000 [" in text


def test_warm_start_spread_counts_each_seed_once():
    study = load_study_script()
    results = [run(arm, seed, 0.5, start_miou=0.4 + 0.1 * seed) for arm in ("a", "b", "c") for seed in range(3)]
    assert study.warm_start_spread(results)["mIoU"] == "0.500+-0.100"
    # an arm with a warm start of its own (other prompts) does not replace the shared one
    shared = [run("fixed-0.5", seed, 0.5, start_miou=0.4 + 0.1 * seed) for seed in range(3)]
    own = [run("described", seed, 0.5, start_miou=0.9) for seed in range(3)]
    assert study.warm_start_spread(shared + own)["mIoU"] == "0.500+-0.100"


def test_regimes_are_built_in_names_or_named_settings():
    study = load_study_script()
    assert study.parse_regime("large") == ("large", {"difficulty": "large"})
    assert study.parse_regime("standard") == ("standard", {"difficulty": "standard", "learning_rate": 3e-4})
    assert study.parse_regime("kvasir=data=kvasir.jsonl,learning_rate=3e-4") == (
        "kvasir", {"data": "kvasir.jsonl", "learning_rate": 0.0003})
    with pytest.raises(SystemExit, match="unknown regime 'hard'"):
        study.parse_regime("hard")
    with pytest.raises(SystemExit, match="unknown medloc train setting\\(s\\) lr"):
        study.parse_regime("fast=lr=3e-4")


def test_old_records_name_their_regime_by_difficulty():
    study = load_study_script()
    assert study.regime_of({"difficulty": "easy"}) == "easy"
    assert study.regime_of({"regime": "kvasir", "difficulty": "easy"}) == "kvasir"


def test_the_adaptive_arms_pass_every_option_so_builtin_defaults_cannot_change_them():
    import schedulers
    from medloc.app.settings import TrainSettings

    study = load_study_script()
    for arm in ("adaptive", "adaptive-paper"):
        options = TrainSettings(**study.ARMS[arm]).run_schedule_options()
        assert set(options) == set(schedulers.build("adaptive").options())
    assert study.ARMS["adaptive-paper"]["schedule_options"]["margin_estimate"] == "mean"


def test_condition_table_marks_a_condition_that_is_off():
    study = load_study_script()
    cells = {"n": 1, **{m: "0.500+-0.000" for m in study.TASK_METRICS["grounding"][0]}, "change_mIoU": "0.1+-0", "change_A@0.8": "0+-0",
             "early_zero_variance_share": "0.2+-0", "tau_reached": {},
             **{f"{label}_{metric}": None for label in ("vs_reference", "vs_best_fixed") for metric in ("mIoU", "A@0.8")}}
    table = {"easy": {"best_fixed": "fixed-0.5", "warm_start": {"mIoU": "0.4+-0.0"}, "arms": {
        "adaptive": {**cells, "conditions_held": {"density": 1.0, "hit_rate": 0.65, "margin": 0.01, "trend": 0.7}},
        "adaptive-paper": {**cells, "conditions_held": {"hit_rate": 0.5, "margin": 0.02, "reward_std": 0.9}},
    }}}
    text = study.markdown(table)
    assert "| arm | density | hit_rate | margin | reward_std | trend |" in text
    assert "| adaptive-paper | - | 0.50 | 0.02 | 0.90 | - |" in text


def test_a_record_of_an_arm_with_other_settings_is_not_resumed():
    study = load_study_script()
    arms = dict([study.parse_arm("adaptive")])
    regimes = dict([study.parse_regime("easy")])
    current = {"arm": "adaptive", "regime": "easy", "arm_settings": study.normalised(study.ARMS["adaptive"]),
               "regime_settings": {"difficulty": "easy"}}
    assert study.belongs(current, arms, regimes)
    old_default = {**current, "arm_settings": {"schedule": "adaptive", "schedule_options": {"min_margin": 0.1}}}
    assert not study.belongs(old_default, arms, regimes)
    assert not study.belongs({**current, "regime_settings": {"difficulty": "standard"}}, arms, regimes)
    assert study.belongs({"arm": "adaptive", "difficulty": "easy"}, arms, regimes)  # written before settings were kept


def test_the_change_since_the_warm_start_comes_with_its_interval():
    study = load_study_script()

    def run(seed, start, end):
        return {"arm": "soft-iou", "seed": seed, "start": {m: start for m in study.TASK_METRICS["grounding"][0]},
                "heldout": {m: end for m in study.TASK_METRICS["grounding"][0]}, "early_zero_variance_share": 0.1, "tau_level_steps": {}}

    group = [run(0, 0.2, 0.25), run(1, 0.3, 0.37), run(2, 0.1, 0.16)]
    cells = study.arm_cells(group, group, None)
    assert cells["change_mIoU"] == "+0.060 [+0.035, +0.085] 3/3+"


def test_a_grade_regime_is_compared_on_accuracy_and_grade_error():
    study = load_study_script()

    def grade_run(arm, seed, accuracy, mae):
        metrics = {"accuracy": accuracy, "within_1": 0.9, "mae": mae, "valid_rate": 1.0}
        return {"arm": arm, "seed": seed, "regime": "grade", "regime_settings": {"task": "grade"}, "steps": 2,
                "heldout": metrics, "start": {**metrics, "accuracy": 0.4, "mae": 0.7},
                "early_zero_variance_share": 0.5, "tau_level_steps": {}, "threshold_trajectory": [[0, 0.5]],
                "heldout_history": [[0, {"accuracy": 0.4, "mae": 0.7}], [2, {"accuracy": accuracy, "mae": mae}]]}

    results = [grade_run("fixed-0.5", seed, 0.50, 0.60) for seed in range(3)]
    results += [grade_run("fixed-0.8", seed, 0.55, 0.50) for seed in range(3)]
    results += [grade_run("fuzzy", seed, 0.50 + 0.02 * seed, 0.55) for seed in range(3)]
    table = study.report(results, ["fixed-0.5", "fixed-0.8", "fuzzy"])["grade"]
    assert table["best_fixed"] == "fixed-0.8"  # by accuracy, the grade task's first paired metric
    assert table["arms"]["fuzzy"]["vs_reference_accuracy"]["mean"] == pytest.approx(0.02)
    assert table["arms"]["fuzzy"]["vs_best_fixed_mae"]["mean"] == pytest.approx(0.05)
    assert table["arms"]["fuzzy"]["change_accuracy"] == "+0.120 [+0.070, +0.170] 3/3+"
    text = study.markdown({"grade": table})
    assert "| arm | seeds | accuracy | within 1 grade | mae | valid | accuracy change since the warm start |" in text
    assert "| arm | accuracy vs fixed-0.5 | accuracy vs fixed-0.8 | mae vs fixed-0.5 | mae vs fixed-0.8 |" in text


def test_a_run_finished_in_its_folder_with_the_same_settings_is_reused_not_trained_again(tmp_path):
    import argparse
    import dataclasses

    from medloc.app.summary import TrainSummary
    from medloc.app.training import recorded_settings

    study = load_study_script()
    args = argparse.Namespace(set=[], max_steps=200, heldout_rows=256, eval_every=50, cache_dir=None)
    settings = study.settings_for(study.ARMS["fixed-0.5"], 1, study.REGIMES["vqa"], args, tmp_path)
    summary = TrainSummary("vqa", None, 200, 90.0, None, None, [], [], "", {"accuracy": 0.5}, [], [], str(tmp_path),
                           "tb", "m", "m.jsonl", settings=recorded_settings(settings))
    (tmp_path / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), default=str))
    assert study.finished_run(tmp_path, settings).heldout == {"accuracy": 0.5}
    other = study.settings_for(study.ARMS["fixed-0.5"], 1, study.REGIMES["vqa-before"], args, tmp_path)
    assert study.finished_run(tmp_path, other) is None  # another layout: train it
    longer = dataclasses.replace(settings, max_steps=300)
    assert study.finished_run(tmp_path, longer) is None
