"""The sibling-claims script's pieces: the seen-kinds VQA task and the seed-by-seed pairing (the runs
themselves are a benchmark, not a test)."""

import importlib.util
from pathlib import Path

import pytest

from grounding_data.synthetic_questions import question_split

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def claims():
    spec = importlib.util.spec_from_file_location("sibling_claims", ROOT / "experiments" / "sibling_claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    from medloc.tasks import _registered

    _registered.pop("vqa-seen", None)


def test_seen_kinds_rows_are_the_full_streams_rows_of_those_kinds_only(claims):
    task = claims.get_task("vqa-seen")
    rows = task.synthetic_rows("train", 6, None, seed=2)
    assert [row["question_type"] for row in rows] == ["quadrant", "count"] * 3
    full = {row["id"]: row["answer"] for row in question_split("vqa", "train", 9, seed=2)}
    assert all(full[row["id"]] == row["answer"] for row in rows)  # the same rows as the full stream's
    later = task.synthetic_rows("train", 6, None, seed=2, start=6)
    assert not {row["id"] for row in rows} & {row["id"] for row in later}  # consecutive chunks never overlap
    assert claims.HELD_OUT_KIND == "brightness"


def test_study_pairs_match_runs_by_seed_and_can_use_the_change_since_the_warm_start(claims):
    def run(regime, arm, seed, start, end):
        return {"regime": regime, "arm": arm, "seed": seed, "start": {"accuracy": start}, "heldout": {"accuracy": end}}

    records = [run("grade", "fuzzy", 0, 0.3, 0.5), run("grade", "fuzzy", 1, 0.2, 0.4), run("grade", "fuzzy", 2, 0.2, 0.2),
               run("grade", "fixed-0.8", 0, 0.3, 0.4), run("grade", "fixed-0.8", 1, 0.25, 0.3)]
    pairs = claims.study_pairs(records, ("grade", "fuzzy"), ("grade", "fixed-0.8"), "accuracy")
    assert pairs == [(0.5, 0.4), (0.4, 0.3)]  # seed 2 has no partner
    changes = claims.study_pairs(records, ("grade", "fuzzy"), ("grade", "fixed-0.8"), "accuracy", change=True)
    assert changes == [(pytest.approx(0.2), pytest.approx(0.1)), (pytest.approx(0.2), pytest.approx(0.05))]
    assert claims.paired([(0.5, 0.4), (0.4, 0.3)]).startswith("+0.100 [+0.100, +0.100] 2/2+")
    assert claims.paired([]) == "n/a"
