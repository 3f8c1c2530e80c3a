"""The tasks: every registered task answers its own reference answers perfectly in every layout; question
prompts with prior knowledge; question scoring overall, per modality and per question type."""

import math

import pytest

from grounding_data.answer_format import REASONING_LAYOUTS
from grounding_data.frames import get_frame
from grounding_data.synthetic import difficulty
from medloc.curriculum_core import build_schedule
from medloc.priors import describe_classes, read_class_descriptions
from medloc.tasks import AnswerSetup, get_task, register_task, task_names

VQA, GRADE = get_task("vqa"), get_task("grade")


def score_questions(answers, rows, task):
    return get_task(task).score(answers, rows, AnswerSetup())


def question_text(row, task, reasoning="none", descriptions=None):
    return get_task(task).question_text(row, AnswerSetup(reasoning, descriptions=descriptions))


@pytest.mark.parametrize("reasoning", REASONING_LAYOUTS)
@pytest.mark.parametrize("name", task_names())
def test_every_task_scores_its_reference_answers_perfectly_and_its_format_reward_accepts_them(name, reasoning):
    task = get_task(name)
    setup = AnswerSetup(reasoning, get_frame("grid-100") if task.uses_frame else None)
    rows = task.synthetic_rows("heldout", 6, difficulty("easy"), 0)
    answers = [task.reference_answer(row, setup, rationale="because") for row in rows]
    result = task.score(answers, rows, setup)
    assert result.metrics[task.bar_metric] == 1.0 and result.metrics["n"] == 6
    assert set(task.heldout_metrics) <= set(result.metrics)
    schedule = build_schedule("fixed", threshold=0.5) if task.curriculum_name else None
    curriculum = task.curriculum(schedule, setup) if schedule else None
    columns = {key: [task.truth_columns(row)[key] for row in rows] for key in task.truth_columns(rows[0])}
    for reward in task.reward_functions(setup, curriculum):
        assert reward(answers, **columns) == [1.0] * 6, reward.__name__
    assert [part["type"] for part in task.prompt(rows[0], setup)[0]["content"]] == ["text", "image"]
    assert task.result_lines(result) and task.summary_lines([(0, result.metrics)], result)


def test_a_registered_task_is_used_by_name(monkeypatch):
    from medloc.tasks import _registered
    from medloc.tasks.vqa import VqaTask

    class Quiz(VqaTask):
        name = "quiz"

    monkeypatch.setattr("medloc.tasks._registered", dict(_registered))
    assert register_task(Quiz()) is None
    assert "quiz" in task_names() and get_task("quiz").name == "quiz"
    assert register_task(Quiz()).name == "quiz"  # a second registration replaces the first

VQA_ROW = {"question": "What stage is shown?", "options": ["Stage Ib", "Stage 0"], "answer": "A"}
GRADE_ROW = {"question": "What is the DR grade?", "grades": ["none", "mild", "severe"], "grade": 1}


def test_prior_knowledge_file_is_read_and_carried_by_the_prompt(tmp_path):
    file = tmp_path / "dr.yaml"
    file.write_text("None: no lesions\nmild: microaneurysms only\nunused: never asked\n")
    descriptions = read_class_descriptions(file)
    text = question_text(GRADE_ROW, "grade", "after", descriptions)
    assert text.splitlines() == [
        "What is the DR grade? Grades: none, mild, severe.",
        "Known classes:",
        "none: no lesions",
        "mild: microaneurysms only",
        "Answer <answer>grade</answer> with one grade, then explain in <think></think>.",
    ]
    assert "Known classes" not in question_text(GRADE_ROW, "grade", "after")
    assert describe_classes(["Stage Ib"], {"stage ib": "invades nearby tissue"}) == ["Stage Ib: invades nearby tissue"]
    json_file = tmp_path / "dr.json"
    json_file.write_text('{"severe": "haemorrhages in four quadrants"}')
    assert read_class_descriptions(json_file) == {"severe": "haemorrhages in four quadrants"}


@pytest.mark.parametrize(
    ("content", "message"),
    [("- a list\n- of labels\n", "must hold a mapping 'label: description', got list"),
     ("mild: ''\n", "label 'mild': the description must be non-empty text"),
     ("mild: [unclosed\n", "is not valid YAML")],
)
def test_bad_description_files_name_the_file(tmp_path, content, message):
    file = tmp_path / "classes.yaml"
    file.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_class_descriptions(file)
    assert str(file) in str(error.value)
    with pytest.raises(ValueError, match="cannot read"):
        read_class_descriptions(tmp_path / "missing.yaml")


def test_vqa_prompt_lists_lettered_options_then_the_image():
    messages = VQA.prompt(VQA_ROW, AnswerSetup(reasoning="before"))
    text = messages[0]["content"][0]["text"]
    assert text.splitlines()[1:3] == ["A) Stage Ib", "B) Stage 0"]
    assert text.endswith("Think in <think></think>, then answer <answer>X</answer> with the letter of one option.")
    assert [part["type"] for part in messages[0]["content"]] == ["text", "image"]
    with pytest.raises(ValueError, match="row '7' has no 'options'"):
        question_text({"question": "Q?", "id": "7"}, "vqa")


def test_perfect_answers_score_one_and_breakdowns_follow_the_rows():
    rows = [dict(VQA_ROW, modality="CT", question_type="stage"), dict(VQA_ROW, modality="MR", question_type="stage"),
            dict(VQA_ROW, modality="MR", question_type="stage", answer="B")]
    perfect = [VQA.reference_answer(row, AnswerSetup(reasoning="before"), rationale="bright") for row in rows]
    assert score_questions(perfect, rows, "vqa").metrics == {"accuracy": 1.0, "valid_rate": 1.0, "n": 3,
                                                             "top_answer_share": pytest.approx(2 / 3)}
    result = score_questions(["A", "nothing", "Stage Ib"], rows, "vqa")
    assert result.metrics["accuracy"] == pytest.approx(1 / 3)
    assert result.metrics["valid_rate"] == pytest.approx(2 / 3)
    assert result.by_modality == {"CT": {"accuracy": 1.0, "valid_rate": 1.0, "n": 1, "top_answer_share": 1.0},
                                  "MR": {"accuracy": 0.0, "valid_rate": 0.5, "n": 2, "top_answer_share": 1.0}}
    assert result.correct == [True, False, False]
    assert [line.split()[:2] for line in VQA.result_lines(result)[1:]] == [
        ["overall", "3"], ["modality:", "CT"], ["modality:", "MR"], ["question", "type:"]]


def test_grade_scores_exact_within_one_and_mean_absolute_error():
    rows = [dict(GRADE_ROW, modality="fundus")] * 4
    result = score_questions(["mild", "<answer>severe</answer>", "none", "???"], rows, "grade")
    assert result.metrics["accuracy"] == 0.25
    assert result.metrics["within_1"] == 0.75
    assert result.metrics["mae"] == pytest.approx(2 / 3)
    assert result.metrics["valid_rate"] == 0.75
    assert math.isnan(score_questions(["???"], rows[:1], "grade").metrics["mae"])
    with pytest.raises(ValueError, match="row 0: 'answer' 'Z' names no option"):
        score_questions(["A"], [dict(VQA_ROW, answer="Z")], "vqa")


def _summary(task, heldout, **changes):
    from medloc.app.summary import TrainSummary

    fields = dict(task=task, schedule=None, steps=200, seconds=80.0, start_threshold=None, final_threshold=None,
                  threshold_trajectory=[], raises=[], threshold_note="", heldout=heldout, heldout_history=[],
                  heldout_lines=[], output_dir="o", tensorboard_dir="o/tb", final_model_dir="o/m",
                  metrics_file="o/m.jsonl", settings={"model": "medloc/tiny-qwen2-vl", "warm_start": True})
    return TrainSummary(**{**fields, **changes})


@pytest.mark.parametrize("task, header, before_line, after_line", [
    ("vqa", "  held-out (4 rows)    accuracy  valid", "    before GRPO            0.250   0.50",
     "    after GRPO             0.750   1.00"),
    ("grade", "  held-out (4 rows)    accuracy  within_1    mae  valid",
     "    before GRPO            0.250     0.500  1.500   0.50",
     "    after GRPO             0.750     1.000  0.250   1.00"),
])
def test_question_summaries_show_held_out_before_and_after_grpo(task, header, before_line, after_line):
    spec = get_task(task)
    rows = spec.synthetic_rows("heldout", 4, difficulty("easy"), 0)
    last = spec.score([spec.reference_answer(row, AnswerSetup()) for row in rows], rows, AnswerSetup())
    before = {"accuracy": 0.25, "valid_rate": 0.5, "within_1": 0.5, "mae": 1.5, "n": 4}
    after = {"accuracy": 0.75, "valid_rate": 1.0, "within_1": 1.0, "mae": 0.25, "n": 4}
    lines = spec.summary_lines([(0, before), (50, before), (200, after)], last)
    assert lines[:4] == [header, before_line, after_line, "  after GRPO, by modality and question type:"]
    assert lines[5].startswith("    modality: synthetic                 4      1.0000")  # no overall line
    assert "overall" not in "\n".join(lines)
    assert spec.summary_lines([(200, after)], last)[1:2] == [after_line]  # no step-0 evaluation: no 'before'
    summary = _summary(task, after, heldout_lines=lines)
    assert "\n".join(lines) in "\n".join(summary.lines())


@pytest.mark.parametrize("task, metrics", [("vqa", {"accuracy": 0.0, "valid_rate": 0.0, "n": 128}),
                                           ("grounding", {"A@0.5": 0.0, "format_valid_rate": 0.0, "n": 128})])
def test_a_run_whose_answers_the_reward_never_read_says_so_and_what_to_try(task, metrics):
    lines = _summary(task, metrics).lines()
    warning = [line for line in lines if "never produced an answer the reward can read" in line]
    assert len(warning) == 1 and "GRPO had nothing to learn from" in warning[0]
    assert "--warm-start-steps" in warning[0]
    no_warm = _summary(task, metrics, settings={"model": "medloc/tiny-qwen2-vl", "warm_start": False}).warnings()
    assert "run without --no-warm-start" in no_warm[0]
    real = _summary(task, metrics, settings={"model": "Qwen/Qwen2-VL-2B-Instruct"}).warnings()
    assert "check that --reasoning matches how the model answers" in real[0]
    assert not _summary(task, {**metrics, get_task(task).valid_metric: 0.02}).warnings()


def test_a_stalled_question_warm_start_is_named_in_the_summary():
    warm = {"task": "grade", "accuracy": 0.1, "valid_rate": 0.3, "stalled": True}
    warnings = _summary("grade", {"accuracy": 0.2, "valid_rate": 0.5, "n": 8}, warm_start=warm).warnings()
    assert warnings == ["  WARNING: the warm start stalled (held-out valid-answer rate 0.30): the model did not learn "
                        "to write grade answers before GRPO; see docs/tasks.md."]


def test_a_question_model_stuck_on_one_answer_is_named_in_the_summary():
    rows = get_task("grade").synthetic_rows("heldout", 10, difficulty("easy"), 0)
    stuck = get_task("grade").score(["<answer>1</answer>"] * 9 + ["<answer>2</answer>"], rows, AnswerSetup()).metrics
    assert stuck["top_answer_share"] == 0.9
    varied = get_task("grade").score([str(i % 4) for i in range(10)], rows, AnswerSetup()).metrics
    assert varied["top_answer_share"] == 0.3
    history = [(0, stuck), (200, stuck)]
    warnings = _summary("grade", stuck, heldout_history=history).warnings()
    assert warnings == ["  WARNING: the model gave one answer to 90% of the held-out questions after GRPO (90% "
                        "before): GRPO did not move its greedy answer. Try another --seed or more --warm-start-steps."]
    assert not _summary("grade", varied, heldout_history=[(0, stuck), (200, varied)]).warnings()  # it moved
