"""Ordinal grades: parsing, the fuzzy reward's partial credit and tolerance, and the closeness score."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medloc.grades import (
    fuzzy_grade_credit,
    gold_grade,
    grade_closeness,
    make_fuzzy_grade_reward,
    parse_grade,
    tolerance_at,
)

DIGITS = ["0", "1", "2", "3"]
SEVERITY = ["none", "mild", "moderate", "severe", "proliferative"]


@pytest.mark.parametrize(
    ("text", "grades", "expected"),
    [
        ("2", DIGITS, 2), ("<answer>2</answer>", DIGITS, 2), ("grade 2", DIGITS, 2), ("Grade: 3.", DIGITS, 3),
        ("<think>about 30 px</think><answer>grade 2</answer>", DIGITS, 2), ("Moderate", SEVERITY, 2),
        ("severe DR", SEVERITY, 3), ("NONE", SEVERITY, 0), ("proliferative retinopathy", SEVERITY, 4),
        ("1 or 2", DIGITS, None), ("12", DIGITS, None), ("mild to moderate", SEVERITY, None), ("", DIGITS, None),
        ("junk", SEVERITY, None), ("<answer></answer>", DIGITS, None),
    ],
)
def test_parse_grade_known_answers(text, grades, expected):
    assert parse_grade(text, grades) == expected


@pytest.mark.parametrize(
    ("tolerance", "expected"),
    [(0, [1.0, 0.0, 0.0, 0.0, 0.0]), (1, [1.0, 0.5, 0.0, 0.0, 0.0]), (2, [1.0, 2 / 3, 1 / 3, 0.0, 0.0]),
     (3, [1.0, 0.75, 0.5, 0.25, 0.0])],
)
def test_fuzzy_reward_credit_falls_with_grade_distance(tolerance, expected):
    completions = ["mild", "moderate", "<answer>severe</answer>", "proliferative", "no idea"]
    reward = make_fuzzy_grade_reward(tolerance)
    rewards = reward(completions, grade=["mild"] * 5, grades=[SEVERITY] * 5)
    assert rewards == pytest.approx(expected)
    assert reward.__name__ == f"fuzzy_grade_reward_tol{tolerance}"


def test_credit_is_symmetric_and_the_true_grade_may_be_an_index_or_a_label():
    assert fuzzy_grade_credit(1, 3, tolerance=2) == fuzzy_grade_credit(3, 1, tolerance=2) == pytest.approx(1 / 3)
    assert fuzzy_grade_credit(None, 0) == 0.0
    assert gold_grade(3, SEVERITY) == gold_grade("Severe", SEVERITY) == 3
    with pytest.raises(ValueError, match=r"row 4: the true grade 'stage 9' is neither an index nor a label"):
        gold_grade("stage 9", SEVERITY, row=4)
    with pytest.raises(ValueError, match="tolerance must be a finite number of grades >= 0, got -1"):
        make_fuzzy_grade_reward(-1)
    with pytest.raises(ValueError, match="grade rewards need a per-row 'grades' column"):
        make_fuzzy_grade_reward()(["1"], grade=[1])


def test_closeness_and_the_tolerance_a_threshold_allows():
    scores = grade_closeness(["0", "1", "2", "3", "?"], {"grade": [0] * 5, "grades": [DIGITS] * 5})
    assert scores.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0, 0.0])
    assert grade_closeness(["a"], {"grade": ["a"], "grades": [["a"]]}).tolist() == [1.0]  # one grade: exact only
    # 1[closeness >= tau] is full credit within (1 - tau)(K - 1) grades: 2 grades at tau 0.3, exact at 0.8
    for tau, allowed in ((0.3, 2), (0.45, 1), (0.7, 0), (0.8, 0)):
        assert int(tolerance_at(tau, 4) + 1e-9) == allowed
        assert [score >= tau for score in scores[:4]] == [d <= allowed for d in range(4)]


_JUNK = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["<answer>", "</answer>", "grade", " ", "0", "1", "2", "3", "mild", "severe", "or"]),
             max_size=20).map("".join),
    st.none(), st.integers(),
    st.lists(st.fixed_dictionaries({"role": st.just("assistant"), "content": st.text(max_size=15)}), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(completions=st.lists(_JUNK, min_size=1, max_size=8), grades=st.sampled_from([DIGITS, SEVERITY, ["a", "b"]]),
       tolerance=st.floats(min_value=0, max_value=10), truth=st.integers(min_value=0, max_value=1))
def test_junk_never_raises_and_scores_stay_in_range(completions, grades, tolerance, truth):
    n = len(completions)
    columns = {"grade": [truth] * n, "grades": [grades] * n}
    for values in (make_fuzzy_grade_reward(tolerance)(completions, **columns),
                   grade_closeness(completions, columns).tolist()):
        assert len(values) == n
        assert all(math.isfinite(value) and 0.0 <= value <= 1.0 for value in values)


def test_grade_task_fuzzy_reward_pays_partial_credit_while_the_schedule_still_learns():
    from types import SimpleNamespace

    from medloc.curriculum import ThresholdCurriculum
    from medloc.tasks import AnswerSetup, get_task

    curriculum = ThresholdCurriculum(grade_closeness, "fixed", threshold=1.0)
    curriculum._model, curriculum.num_generations = SimpleNamespace(training=True), 2  # a training batch, G = 2
    logged = {}
    format_reward, fuzzy = get_task("grade").reward_functions(AnswerSetup(), curriculum, "fuzzy")
    columns = {"grade": [1] * 4, "grades": [["0", "1", "2", "3"]] * 4, "log_metric": logged.__setitem__}
    assert fuzzy(["1", "2", "3", "junk"], **columns) == [1.0, 0.5, 0.0, 0.0]
    assert logged["medloc/hit_rate"] == 0.25  # the schedule saw the batch: only the exact grade meets tau 1.0
    with pytest.raises(ValueError, match="unknown grade reward 'soft-iou'; expected one of binary, fuzzy"):
        get_task("grade").reward_functions(AnswerSetup(), curriculum, "soft-iou")
