"""Does the tiny model use the image? Overfit one fixed batch, then shuffle its images.

If the loss on the fixed batch falls while the loss with the images shuffled between rows rises,
the image pathway works (the model tells images apart); a warm start that still writes one box
for every held-out image then fails to *generalise* from image content to position, not to see.

Usage::

    python experiments/overfit_probe.py --rows 32 --steps 300
"""

from __future__ import annotations

import argparse

import torch

from grounding_data.synthetic import SyntheticConfig, iter_rows
from medloc.prompts import answer_text, build_prompt
from medloc.builtin.tiny_model import build_tiny_vlm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()

    model, processor = build_tiny_vlm(seed=0)
    rows = iter_rows("train", SyntheticConfig(), seed=0, start=1_000_000)
    batch = [next(rows) for _ in range(args.rows)]
    prompts = [processor.apply_chat_template(build_prompt(r, "none", "grid-100"), add_generation_prompt=True,
                                             tokenize=False) for r in batch]
    answers = [answer_text(r["boxes"], r["width"], r["height"], "none", "grid-100") + "<|im_end|>" for r in batch]
    inputs = processor(text=[p + a for p, a in zip(prompts, answers)], images=[r["image"].convert("RGB") for r in batch],
                       return_tensors="pt", padding=True, padding_side="right")
    labels = inputs["input_ids"].clone()
    for i, answer in enumerate(answers):  # loss on the answer tokens only
        answer_length = len(processor.tokenizer(answer, add_special_tokens=False)["input_ids"])
        length = int(inputs["attention_mask"][i].sum())
        labels[i, : length - answer_length] = -100
        labels[i, length:] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    patches = inputs["pixel_values"].view(args.rows, -1, inputs["pixel_values"].shape[-1])
    model.train()
    print(f"{'step':>5} {'loss':>8} {'loss, images shuffled':>22}")
    for step in range(1, args.steps + 1):
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step % max(1, args.steps // 6) == 0:
            with torch.no_grad():
                shuffled = dict(inputs, pixel_values=patches[torch.randperm(args.rows)].reshape(inputs["pixel_values"].shape))
                shuffled_loss = model(**shuffled, labels=labels).loss.item()
            print(f"{step:>5} {loss.item():>8.3f} {shuffled_loss:>22.3f}", flush=True)


if __name__ == "__main__":
    main()
