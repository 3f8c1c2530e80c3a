"""Multiple-choice answers: option parsing, the choice reward, and the format reward for any answer."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medloc.choices import choice_reward, is_choice, make_choice_reward, parse_choice
from medloc.rewards import has_text, make_format_reward

OPTIONS = ["It's a good retinal image.", "It's a outlier retinal image.", "it's a bad retinal image."]


@pytest.mark.parametrize(
    "text",
    ["C", "c", "(C)", "C)", "C.", " C ", "<answer> C </answer>", "<answer>(C)</answer>", "C. it's a bad retinal image",
     "C) bad", "(C) bad", "The answer is C", "The answer is (C).", "Answer: C", "answer:C", "option C",
     "<think>blurry, dark</think><answer>The answer is C</answer>", "it's a bad retinal image",
     "IT'S A BAD RETINAL IMAGE!", "I think it's a bad retinal image, clearly"],
)
def test_every_way_of_writing_option_c_reads_c(text):
    assert parse_choice(text, OPTIONS) == "C"


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("maybe", OPTIONS),
        ("", OPTIONS),
        ("D", OPTIONS),  # only three options
        ("The answer is E", OPTIONS),
        ("it's a retinal image", OPTIONS),  # every option's words, but none whole
        ("A or B", ["yes", "no"]),
        ("yes and no", ["yes", "no"]),
        ("A lesion in the upper left", None),  # an article, not a choice
        ("The answer is a bright lesion", None),
        ("C", []),
    ],
)
def test_answers_that_choose_nothing_read_as_none(text, options):
    assert parse_choice(text, options) is None


def test_the_last_answer_block_and_chat_messages_are_read():
    assert parse_choice("<answer>A</answer> on reflection <answer>B</answer>", OPTIONS) == "B"
    assert parse_choice([{"role": "assistant", "content": [{"type": "text", "text": "<answer>B</answer>"}]}]) == "B"
    assert parse_choice([{"role": "user", "content": "A"}]) is None


def test_longest_contained_option_wins_and_exact_text_beats_letters():
    assert parse_choice("No, it's normal. Nothing else.", ["No", "No, It's normal."]) == "B"
    assert parse_choice("a", ["b", "a"]) == "A"  # a lone letter is the letter, even if it is also an option text
    assert parse_choice("Stage Ib", ["Stage I", "Stage Ib"]) == "B"


def test_choice_reward_known_values_with_and_without_options():
    completions = ["C", "<answer>(c)</answer>", "it's a bad retinal image", "A", "junk", 17, None]
    rewards = choice_reward(completions, answer=["<answer> C </answer>"] * 7, options=[OPTIONS] * 7)
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert choice_reward(["C", "it's a bad retinal image"], answer=["C", "C"]) == [1.0, 0.0]  # no options: letters only
    assert make_choice_reward().__name__ == "choice_reward"


def test_choice_reward_names_the_bad_row_and_the_missing_column():
    with pytest.raises(ValueError, match="row 1: the 'answer' column must name an option letter, got 'E'"):
        choice_reward(["A", "B"], answer=["A", "E"], options=[OPTIONS] * 2)
    with pytest.raises(ValueError, match="needs a per-row 'answer' column"):
        choice_reward(["A"])
    with pytest.raises(ValueError, match="'answer' has 2 rows but there are 1 completions"):
        choice_reward(["A"], answer=["A", "B"])


@pytest.mark.parametrize(
    ("reasoning", "good", "bad"),
    [
        ("before", "<think>dark, blurry</think>\n<answer>C</answer>", "<answer>C</answer><think>dark</think>"),
        ("after", "<answer>(C)</answer> <think>dark, blurry</think>", "<think>dark</think><answer>C</answer>"),
        ("none", "<answer>The answer is C</answer>", "<think>x</think><answer>C</answer>"),
    ],
)
def test_format_reward_checks_the_layout_for_a_choice_answer(reasoning, good, bad):
    reward = make_format_reward(reasoning, answer_check=is_choice)
    assert reward([good, bad, good.replace("C", "no idea"), good.replace("C", "[1, 2, 3, 4]")]) == [1.0, 0.0, 0.0, 0.0]
    assert reward.__name__ == f"format_reward_{reasoning}"


def test_format_reward_keeps_box_behaviour_and_survives_a_broken_check():
    assert make_format_reward("none")(["<answer>[1, 2, 3, 4]</answer>", "<answer>C</answer>"]) == [1.0, 0.0]
    assert make_format_reward("none", answer_check=has_text)(["<answer>C</answer>", "<answer> </answer>"]) == [1.0, 0.0]

    def broken(answer):
        raise RuntimeError("bug in a user's check")

    assert make_format_reward("none", answer_check=broken)(["<answer>C</answer>"]) == [0.0]
    with pytest.raises(TypeError, match="answer_check must be callable"):
        make_format_reward("none", answer_check="C")


_JUNK = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["<answer>", "</answer>", "<think>", "</think>", "A", "(", ")", "answer is", " ", ".",
                              "option", "B", "yes", "no", "Z", "\n", "é"]), max_size=30).map("".join),
    st.lists(st.fixed_dictionaries({"role": st.sampled_from(["assistant", "user"]), "content": st.text(max_size=20)}),
             max_size=3),
    st.none(), st.integers(), st.floats(),
)


@settings(max_examples=200, deadline=None)
@given(completions=st.lists(_JUNK, min_size=1, max_size=8),
       options=st.lists(st.text(max_size=12), min_size=2, max_size=5))
def test_junk_never_raises_and_rewards_stay_in_range(completions, options):
    for completion in completions:
        chosen = parse_choice(completion, options)
        assert chosen is None or chosen in "ABCDE"[: len(options)]
    n = len(completions)
    for reward in (choice_reward(completions, answer=["A"] * n, options=[options] * n),
                   make_format_reward("before", answer_check=is_choice)(completions)):
        assert len(reward) == n
        assert all(math.isfinite(value) and value in (0.0, 1.0) for value in reward)
