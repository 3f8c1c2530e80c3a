"""What TRL's loss sees with a right-padding processor (huggingface/trl#5785), on a question warm start.

Eight VQA prompts of three lengths are left-padded into one batch; the model draws one answer each
(temperature 1). Each drawn letter's log-probability is then computed three ways: as generation drew
it; by one forward over prompt + completion with ``mm_token_type_ids`` padded on the left (what
``medloc.pad_left`` gives TRL); and with ``mm_token_type_ids`` padded on the right (what TRL 1.16 builds
from a right-padding processor). Then, per data source, the prompt lengths (image tokens included) and
the share of prompts a batch of 4 (``medloc train``'s default prompts a step) scores with misplaced image
marks: those shorter than the longest prompt of their batch. Prints Markdown tables (``--out`` writes them
too); ``--grounding-jsonl`` adds a converted dataset (e.g. Kvasir-SEG) as a source.

Usage (``--model``: a model answering the built-in VQA questions, e.g. the question warm start a
``medloc train --task vqa`` run names in its summary)::

    python experiments/padding_check.py --model ~/.cache/medloc/warmstart/<folder> --out experiments/results/padding_check.md

Example (two lengths, 3 of 4 prompts short; a short prompt meets a long one in a batch of 4 with
probability 1 - 0.75**3, so 0.75 * (1 - 0.75**3) of the prompts are misplaced):
    >>> round(misplaced_share([10, 10, 10, 12], batch=4), 3)
    0.434
"""

from __future__ import annotations

import argparse
import collections
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from grounding_data.synthetic import difficulty
from medloc.evaluation import row_image
from medloc.tasks import AnswerSetup, get_task

LENGTH_HEADER = "| source | prompt tokens (share of prompts) | prompts with misplaced image marks, batches of 4 |"
HEADER = "| prompt tokens | answer | log p at generation | loss, image marks padded left | loss, padded right |"


def letter_logps(folder: Path, rows: int = 8) -> list[tuple[int, str, float, float, float]]:
    """Per prompt: (its length, the answer drawn, the letter's log p at generation, in the loss with left- and
    with right-padded image marks)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    task, setup = get_task("vqa"), AnswerSetup()
    batch_rows = task.synthetic_rows("train", rows, difficulty("easy"), 0)
    texts = [processor.apply_chat_template(task.prompt(row, setup), add_generation_prompt=True, tokenize=False)
             for row in batch_rows]
    images = [row_image(row) for row in batch_rows]

    def encode(side: str) -> dict:
        return processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side=side)

    left = encode("left")
    prompt_length = left["input_ids"].shape[1]
    with torch.no_grad():
        drawn = model.generate(**left, max_new_tokens=6, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                               output_scores=True, return_dict_in_generate=True)
        completion = drawn.sequences[:, prompt_length:]
        letter = 1  # <answer>, the letter, </answer>
        at_generation = torch.log_softmax(drawn.scores[letter], -1).gather(1, completion[:, letter : letter + 1])[:, 0]
        mask = torch.cat([left["attention_mask"], torch.ones_like(completion)], 1)

        def in_loss(marks: torch.Tensor) -> torch.Tensor:
            marks = torch.cat([marks, torch.zeros_like(completion)], 1)
            logits = model(input_ids=drawn.sequences, attention_mask=mask, pixel_values=left["pixel_values"],
                           image_grid_thw=left["image_grid_thw"], mm_token_type_ids=marks).logits
            position = prompt_length - 1 + letter
            return torch.log_softmax(logits[:, position], -1).gather(1, completion[:, letter : letter + 1])[:, 0]

        padded_left, padded_right = in_loss(left["mm_token_type_ids"]), in_loss(encode("right")["mm_token_type_ids"])
    answers = processor.batch_decode(completion[:, : letter + 2])
    lengths = left["attention_mask"].sum(1).tolist()
    return [(lengths[i], answers[i], float(at_generation[i]), float(padded_left[i]), float(padded_right[i]))
            for i in range(rows)]


def misplaced_share(lengths: Sequence[int], batch: int = 4) -> float:
    """Expected share of prompts shorter than the longest of their batch, the ``batch - 1`` others drawn at
    random from ``lengths``."""
    counts = collections.Counter(lengths)
    total = len(lengths)
    at_most = 0
    share = 0.0
    for length in sorted(counts):
        at_most += counts[length]
        share += counts[length] / total * (1 - (at_most / total) ** (batch - 1))
    return share


def prompt_lengths(processor, task_name: str, rows: Sequence[dict]) -> list[int]:
    """Token count of each row's prompt (chat template, image tokens expanded), as ``medloc train`` asks it."""
    task = get_task(task_name)
    setup = AnswerSetup(frame="grid-100" if task.uses_frame else None)
    return [len(processor(text=[processor.apply_chat_template(task.prompt(row, setup), add_generation_prompt=True,
                                                            tokenize=False)],
                          images=[row_image(row)], return_tensors="pt")["input_ids"][0]) for row in rows]


def length_lines(folder: Path, grounding_jsonl: Path | None, rows: int = 256) -> list[str]:
    """One table row per source: the built-in grounding, grade and VQA rows, and ``grounding_jsonl``'s first rows."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    sources = [(f"built-in {name} (`easy`)", name, get_task(name).synthetic_rows("train", rows, difficulty("easy"), 0))
               for name in ("grounding", "grade", "vqa")]
    if grounding_jsonl:
        with grounding_jsonl.open() as lines:
            data = [json.loads(line) for line, _ in zip(lines, range(rows))]
        sources.append((f"`{grounding_jsonl.name}`", "grounding", data))
    lines = [LENGTH_HEADER, "|---|---|---|"]
    for label, task_name, data in sources:
        lengths = prompt_lengths(processor, task_name, data)
        counts = sorted(collections.Counter(lengths).items())
        spread = ", ".join(f"{length} ({count / len(lengths):.0%})" for length, count in counts)
        lines.append(f"| {label}, {len(lengths)} rows | {spread} | {misplaced_share(lengths):.0%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder that answers the VQA questions")
    parser.add_argument("--grounding-jsonl", type=Path, help="a converted grounding dataset to count too")
    parser.add_argument("--out", type=Path, help="also write the tables here")
    options = parser.parse_args()
    rows = letter_logps(options.model)
    lines = ["The log-probability of each drawn answer letter, one batch of 8 VQA prompts (left-padded), model: the "
             f"question warm start `{options.model.name}` (`python experiments/padding_check.py`).", "", HEADER,
             "|---|---|---|---|---|"]
    lines += [f"| {n} | `{answer}` | {g:.3f} | {left:.3f} | {right:.3f} |" for n, answer, g, left, right in rows]
    lines += ["", "Which prompts TRL scored with misplaced image marks before the fix (a right-padding processor):", "",
              *length_lines(options.model, options.grounding_jsonl)]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        options.out.write_text(text)


if __name__ == "__main__":
    main()
