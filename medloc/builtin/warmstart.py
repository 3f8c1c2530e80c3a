"""Supervised warm start of the built-in tiny model on fresh synthetic data (or on a user's
grounding rows), cached on disk.

A randomly initialised model never writes a box that earns an IoU reward, so before GRPO the
tiny model learns the answer format and rough localisation in a plain supervised loop (loss on the
answer tokens only, a fresh synthetic batch every step, AdamW with warmup + cosine, clip 1.0).
The result is saved under ``cache_dir/<hash of the config and seed>/`` so the next run with the
same settings skips training.

With ``rows`` (``medloc train --data FILE`` on the built-in model) the warm start trains on those
rows instead, cycling through them in a seeded order with the same loose boxes, and probes on a
slice of them it did not train on; the cache key then includes a hash of the rows
(:func:`rows_fingerprint`), so each data file and split gets its own warm start.

For a question task (``task="vqa"`` or ``"grade"``, :data:`TASK_RECIPES`) the warm start has two
stages, each cached: the grounding warm start (``base``, perception: where the lesion is and how
big), then a short supervised run from its weights on the task's synthetic questions
(:func:`grounding_data.synthetic_questions.question_split`), with the task's own prompt and reference
answer (:mod:`medloc.tasks`). It stops once nearly every answer is readable but well before the
accuracy the task allows, so GRPO has room (experiments/results/question_tasks.md).

A tiny model sometimes stalls on one constant box for every image (see the findings file). After
training, greedy answers on a held-out probe are checked (:mod:`medloc.builtin.warmstart_probe`); a
stalled run is restarted with the next seed and a lower learning rate, up to ``max_attempts`` times.
If every attempt stalls, ``warm_start`` raises, or (``keep_stalled=True``, what ``medloc train``
uses) keeps the best attempt and marks it ``"stalled": true`` so the run's summary says so.

Example (a 2-step warm start; the built-in recipe is :class:`WarmStartConfig`'s defaults):
    >>> import tempfile
    >>> config = WarmStartConfig(max_steps=2, batch_size=2, probe_size=2, max_attempts=1)
    >>> path = warm_start(tempfile.mkdtemp(), config, seed=0, progress=False, keep_stalled=True)
    >>> json.loads((path / METRICS_FILE).read_text())["stalled"]  # 2 steps do not teach it to localise
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torchvision.ops import clip_boxes_to_image

from grounding_data.frames import get_frame
from grounding_data.synthetic import SyntheticConfig, difficulty, generate_split, iter_rows
from grounding_data.synthetic_questions import ROWS_VERSION as QUESTION_ROWS_VERSION
from medloc.evaluation import row_image
from medloc.builtin.tiny_model import build_tiny_vlm
from medloc.builtin.warmstart_probe import probe_for
from medloc.tasks import AnswerSetup, Task, get_task
from medloc.vision_optimizer import vision_scaled_optimizer

CACHE_FORMAT = 3
"""Bump when the warm-start recipe changes in a way the config hash cannot see."""
TRAIN_START = 1_000_000
"""Warm-start rows come from the synthetic train stream from this index on (GRPO uses 0..)."""
MIN_PROBE_ROWS = 2
"""A warm start on rows is probed on at least this many of them (one row has no spread to measure)."""
MIN_ROWS = 2 * MIN_PROBE_ROWS
"""The fewest rows a warm start on rows accepts: the probe rows and as many to train on."""
ROW_IMAGE_SIDE = 224
"""A user's images are shrunk to at most this many pixels a side once, in memory, for the warm start
(the built-in model sees about 112 x 112 pixels; boxes stay in the row's own pixels)."""
METRICS_FILE = "warmstart_metrics.json"


@dataclasses.dataclass(frozen=True)
class WarmStartConfig:
    """Settings of the supervised warm start (batch 32, lr 2e-3, warmup + cosine, clip 1.0, measured
    in experiments/results/warmstart_findings.md; ``freeze_vision=True`` keeps the random vision
    tower fixed).

    ``lead_in`` names a synthetic preset (``"easy"``) the first ``lead_in_steps`` steps draw from
    before ``synthetic``: a model this small learns "find the blob" on clear single lesions, then
    "find the blob the phrase names" among distractors, where training on the hard preset from the
    start stalls (experiments/results/warmstart_findings.md).

    ``label_margin`` widens every target box by this fraction of its width / height on each side:
    the warm-started model then draws loose boxes, as a general-domain grounding model does on
    lesions annotated tightly, and GRPO has a gap to close that the IoU reward can see. Trained on
    the exact boxes (0), the tiny model sits at the limit of what it can see, and 300 GRPO steps left
    its held-out mIoU within +-0.01; from loose boxes (0.15, the built-in default) GRPO tightens them
    (experiments/results/warmstart_findings.md).

    ``vision_lr_scale`` and ``vision_weight_decay`` slow down and regularise the vision tower: at the
    full learning rate its output grows a large common component that, after the language model's
    RMSNorm, makes every image token look alike (see experiments/results/warmstart_findings.md).

    ``rows_fingerprint`` is the hash of the user rows the warm start trains on (None: synthetic
    data); :func:`warm_start` checks it against the rows it is given.

    ``task`` is the task whose answers the model learns (:mod:`medloc.tasks`; the box settings above
    are for ``grounding``), and ``base`` the warm start whose model this one starts from (built and
    cached first; None: a fresh tiny model). ``descriptions`` are the ``(label, description)`` pairs a
    question task's prompts carry (``--class-descriptions``), so the warm start learns the prompts the
    run will ask. A question task's probe counts readable answers
    (``valid_rate``), and the run is stalled below ``min_valid_rate``.

    Example:
        >>> WarmStartConfig(max_steps=10).batch_size
        32
    """

    max_steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    reasoning: str = "none"
    frame: str = "grid-100"
    synthetic: SyntheticConfig = SyntheticConfig()
    lead_in: str | None = None
    lead_in_steps: int = 0
    label_margin: float = 0.0
    model_size: tuple[tuple[str, int | float], ...] = ()
    freeze_vision: bool = False
    vision_lr_scale: float = 0.1
    vision_weight_decay: float = 0.1
    probe_size: int = 64
    stall_spread: float = 0.1
    min_valid_rate: float = 0.5
    min_gain: float = 0.02
    max_attempts: int = 2
    lr_backoff: float = 0.5
    rows_fingerprint: str | None = None
    task: str = "grounding"
    base: WarmStartConfig | None = None
    descriptions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "probe_size", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"WarmStartConfig.{name}={getattr(self, name)} must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"WarmStartConfig.learning_rate={self.learning_rate} must be > 0")
        if not 0 <= self.lead_in_steps <= self.max_steps:
            raise ValueError(f"WarmStartConfig.lead_in_steps={self.lead_in_steps} must be in [0, max_steps]")
        if self.lead_in_steps and self.lead_in is None:
            raise ValueError("WarmStartConfig.lead_in_steps needs a lead_in preset")
        if not 0 <= self.label_margin <= 1:
            raise ValueError(f"WarmStartConfig.label_margin={self.label_margin} must be in [0, 1]")
        if not 0 < self.lr_backoff <= 1:
            raise ValueError(f"WarmStartConfig.lr_backoff={self.lr_backoff} must be in (0, 1]")
        if not get_task(self.task).uses_frame and (self.lead_in or self.rows_fingerprint):  # (names unknown tasks)
            raise ValueError(f"WarmStartConfig: lead_in and rows are for grounding warm starts, not task={self.task!r}")
        if self.descriptions and not get_task(self.task).uses_descriptions:
            raise ValueError(f"WarmStartConfig: descriptions are for question tasks, not task={self.task!r}")

    def key(self, seed: int) -> str:
        """Cache key: a hash of every setting, the seed and the recipe version.

        Example:
            >>> WarmStartConfig().key(0) == WarmStartConfig().key(1)
            False
        """
        config = self.key_fields()
        if not get_task(self.task).uses_frame:  # the question rows a seed gives changed once (their options' order)
            config["rows_version"] = QUESTION_ROWS_VERSION
        blob = json.dumps({"config": config, "seed": seed, "format": CACHE_FORMAT},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def key_fields(self) -> dict:
        """The settings the cache key hashes: every field, less those still at the defaults they had before
        they existed (so grounding warm starts on synthetic data keep their keys).

        Example:
            >>> sorted(set(WarmStartConfig(task="vqa").key_fields()) - set(WarmStartConfig().key_fields()))
            ['task']
        """
        config = dataclasses.asdict(self)
        for name, default in (("rows_fingerprint", None), ("task", "grounding"), ("base", None), ("descriptions", ())):
            if config[name] == default:
                del config[name]
        return config


LABEL_MARGIN = 0.15
"""The built-in warm start's boxes are this much looser than the truth on each side (see
``WarmStartConfig.label_margin``)."""
PRESET_RECIPES: dict[str, dict[str, object]] = {
    "easy": {"label_margin": LABEL_MARGIN},
    "standard": {"lead_in": "easy", "lead_in_steps": 300, "label_margin": 0.25},
    "distractors": {"max_steps": 1200, "lead_in": "easy", "lead_in_steps": 500, "label_margin": LABEL_MARGIN},
    "large": {"label_margin": 0.3},
}
"""Warm-start settings per synthetic preset. ``distractors`` stalls when trained on its own data from the
start and learns after 500 steps on ``easy`` (experiments/results/warmstart_findings.md); ``standard``
starts on ``easy`` too. The looser boxes of ``standard`` (25% a side) and ``large`` (30%) put the
warm-started model below tau 0.5 on most rows, the starved start the curriculum is for
(experiments/results/regimes.md)."""
TASK_RECIPES: dict[str, dict[str, object]] = {
    "vqa": {"max_steps": 400, "learning_rate": 1e-3},
    "grade": {"max_steps": 50, "learning_rate": 1e-3},
}
"""The question stage of each question task's warm start (from the grounding warm start's weights): long
enough that the model reads its answer from the image and every answer is readable, short enough that the
accuracy stays well below its ceiling. Along 200 steps on ``grade`` every answer was readable from step 25
and accuracy rose 0.19, 0.54, 0.60, 0.68 at steps 25, 50, 100, 200. ``vqa`` (options in a fixed order)
learns slower: a 100- or 200-step stage gives one letter for (nearly) every question (200 steps: the same
letter for all 64 probe questions, accuracy 0.41), 400 steps a model whose answers follow the image
(seed 0: held-out accuracy 0.48, the most common answer 47% of them); every answer was readable from step
100 in the ``none`` and ``before`` layouts (experiments/results/question_warmstart_curve.jsonl,
experiments/results/question_tasks.md). A task without a recipe starts from the grounding warm start."""


def loosen_boxes(boxes: Sequence[Sequence[float]], margin: float, width: int, height: int) -> list[list[float]]:
    """Pixel ``(x1, y1, x2, y2)`` boxes widened by ``margin`` x their width / height on each side,
    clipped to the image: the loose boxes a general-domain grounding model draws around a lesion.

    Example:
        >>> loosen_boxes([[40, 40, 60, 50]], 0.25, 112, 112)
        [[35.0, 37.5, 65.0, 52.5]]
    """
    tensor = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    size = (tensor[:, 2:] - tensor[:, :2]).repeat(1, 2) * torch.tensor([-margin, -margin, margin, margin])
    return clip_boxes_to_image(tensor + size, (height, width)).tolist()


def rows_fingerprint(rows: Sequence[Mapping]) -> str:
    """A hash of what a warm start learns from ``rows``: ids, image paths, phrases, boxes and sizes.

    Example:
        >>> row = {"id": "a", "image": "a.jpg", "phrase": "the polyp", "boxes": [[1, 2, 3, 4]], "width": 8, "height": 8}
        >>> rows_fingerprint([row]) == rows_fingerprint([dict(row, boxes=[[1, 2, 3, 5]])])
        False
    """
    digest = hashlib.sha256()
    for row in rows:
        image = row.get("image")
        if hasattr(image, "tobytes"):  # an image in memory: its pixels, not its address
            digest.update(f"{image.mode}{image.size}".encode() + image.tobytes())
            image = None
        digest.update(json.dumps([str(value) for value in (row.get("id"), image, row.get("phrase"), row.get("boxes"),
                                                           row.get("width"), row.get("height"))]).encode())
    return digest.hexdigest()[:16]


def in_memory_rows(rows: Sequence[Mapping], side: int = ROW_IMAGE_SIDE) -> list[dict]:
    """``rows`` with each image loaded once (path or PIL, DICOM included) and shrunk to at most
    ``side`` pixels a side; boxes, width and height stay in the original image's pixels.

    Example:
        >>> from PIL import Image
        >>> row = {"image": Image.new("RGB", (900, 600)), "boxes": [[100, 100, 300, 200]], "width": 900, "height": 600}
        >>> shrunk = in_memory_rows([row])[0]
        >>> shrunk["image"].size, shrunk["boxes"], shrunk["width"]
        ((224, 149), [[100, 100, 300, 200]], 900)
    """
    loaded = []
    for row in rows:
        image = row_image(row)
        image.thumbnail((side, side))
        loaded.append({**row, "image": image})
    return loaded


def row_stream(rows: Sequence[dict], seed: int) -> Iterator[dict]:
    """``rows`` over and over, each pass in a new seeded order.

    Example:
        >>> stream = row_stream([{"id": i} for i in range(3)], seed=0)
        >>> sorted(next(stream)["id"] for _ in range(3))
        [0, 1, 2]
    """
    rng = np.random.default_rng(seed)
    while True:
        for index in rng.permutation(len(rows)):
            yield rows[index]


def sft_example(row: dict, reasoning: str = "none", frame: str = "grid-100", label_margin: float = 0.0,
                task: str = "grounding", descriptions: Mapping[str, str] | None = None) -> dict:
    """TRL prompt-completion example (conversational, with the image) for a row of ``task``: the task's
    prompt (with the class ``descriptions`` of a question task) and reference answer, with its rationale in
    a think layout (boxes ``label_margin`` looser).

    Example:
        >>> ex = sft_example(next(iter_rows("train", seed=0)))
        >>> sorted(ex), ex["completion"][0]["content"].startswith("<answer>[")
        (['completion', 'image', 'prompt'], True)
        >>> from grounding_data.synthetic_questions import question_split
        >>> row = question_split("vqa", "train", 1)[0]
        >>> sft_example(row, "after", task="vqa")["completion"][0]["content"]  # the right option, and its text
        '<answer>D</answer><think>lower right</think>'
    """
    spec = get_task(task)
    setup = AnswerSetup(reasoning, get_frame(frame) if spec.uses_frame else None, descriptions)
    rationale = spec.rationale(row)
    if label_margin:
        row = {**row, "boxes": loosen_boxes(row["boxes"], label_margin, row["width"], row["height"])}
    completion = spec.reference_answer(row, setup, rationale)
    return {"prompt": spec.prompt(row, setup), "completion": [{"role": "assistant", "content": completion}],
            "image": row["image"].convert("RGB")}


def sft_batch(processor, rows: Sequence[dict], reasoning: str = "none", frame: str = "grid-100",
              label_margin: float = 0.0, task: str = "grounding", descriptions: Mapping[str, str] | None = None) -> dict:
    """Processor inputs for ``rows`` with ``labels`` on the answer tokens (and ``<|im_end|>``) only.

    Example:
        >>> _, processor = build_tiny_vlm()
        >>> batch = sft_batch(processor, generate_split("train", 2, seed=0))
        >>> processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100]).startswith("<answer>[")
        True
    """
    examples = [sft_example(row, reasoning, frame, label_margin, task, descriptions) for row in rows]
    prompts = [processor.apply_chat_template(ex["prompt"], add_generation_prompt=True, tokenize=False)
               for ex in examples]
    answers = [ex["completion"][0]["content"] + "<|im_end|>" for ex in examples]
    inputs = processor(text=[p + a for p, a in zip(prompts, answers)], images=[ex["image"] for ex in examples],
                       return_tensors="pt", padding=True, padding_side="right")
    labels = inputs["input_ids"].clone()
    for i, answer in enumerate(answers):
        answer_length = len(processor.tokenizer(answer, add_special_tokens=False)["input_ids"])
        length = int(inputs["attention_mask"][i].sum())
        labels[i, : length - answer_length] = -100
        labels[i, length:] = -100
    inputs["labels"] = labels
    return inputs


def task_stream(task: Task, config: SyntheticConfig, seed: int, batch: int = 32) -> Iterator[dict]:
    """The task's synthetic training rows from :data:`TRAIN_START` on, made ``batch`` at a time.

    Example:
        >>> next(task_stream(get_task("grounding"), SyntheticConfig(), 0))["id"] == next(
        ...     iter_rows("train", SyntheticConfig(), seed=0, start=TRAIN_START))["id"]
        True
    """
    start = TRAIN_START
    while True:
        yield from task.synthetic_rows("train", batch, config, seed, start=start)
        start += batch


def load_model(folder: str | Path):
    """A saved (warm-started) model and its processor, for training on.

    Example:
        >>> import tempfile
        >>> model, processor = build_tiny_vlm(seed=0)
        >>> folder = tempfile.mkdtemp(); model.save_pretrained(folder); _ = processor.save_pretrained(folder)
        >>> load_model(folder)[0].training
        True
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
    model.train()
    return model, AutoProcessor.from_pretrained(folder)


def train_once(config: WarmStartConfig, seed: int, learning_rate: float, progress: bool = True,
               rows: Sequence[dict] | None = None, init: str | Path | None = None,
               on_step: Callable[[int, Any, Any], None] | None = None):
    """One supervised run from a fresh tiny model (or the model saved in ``init``) on fresh synthetic
    rows of the config's task (or on ``rows``, in-memory grounding rows, cycled); returns (model, processor).

    ``on_step(step, model, processor)`` is called after every optimizer step (a learning curve's probes).

    A plain PyTorch loop rather than TRL's SFTTrainer: with the same data, optimizer and schedule
    the SFTTrainer run stayed on the average-box plateau (held-out mIoU 0.014 after 800 steps)
    while this loop reached 0.26 after 750 (experiments/results/warmstart_findings.md).

    Example:
        >>> model, processor = train_once(WarmStartConfig(max_steps=2, batch_size=2), 0, 1e-3, progress=False)
        >>> model.training, model.model.visual.patch_embed.proj.weight.requires_grad
        (False, True)
    """
    from tqdm.auto import tqdm

    model, processor = build_tiny_vlm(seed=seed, **dict(config.model_size)) if init is None else load_model(init)
    model.model.visual.requires_grad_(not config.freeze_vision)
    optimizer = vision_scaled_optimizer(model, learning_rate, config.vision_lr_scale, weight_decay=config.weight_decay,
                                        vision_weight_decay=config.vision_weight_decay)
    warmup = max(1, round(config.warmup_ratio * config.max_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / config.max_steps))),
    )
    task = get_task(config.task)
    stream = row_stream(rows, seed) if rows else task_stream(task, config.synthetic, seed, config.batch_size)
    lead_in = task_stream(task, difficulty(config.lead_in), seed, config.batch_size) if config.lead_in else None
    model.train()
    bar = tqdm(range(config.max_steps), desc="warm start", disable=not progress)
    for step in bar:
        source = lead_in if step < config.lead_in_steps else stream
        batch = sft_batch(processor, [next(source) for _ in range(config.batch_size)], config.reasoning, config.frame,
                          config.label_margin, config.task, dict(config.descriptions) or None)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if on_step is not None:
            on_step(step + 1, model, processor)
    model.eval()
    return model, processor


def warm_start(cache_dir: str | Path, config: WarmStartConfig | None = None, seed: int = 0,
               progress: bool = True, keep_stalled: bool = False, rows: Sequence[Mapping] | None = None) -> Path:
    """Warm-start the tiny model (or reuse a cached one); return the saved model's folder.

    The folder holds the model, the processor and ``warmstart_metrics.json`` (held-out probe
    metrics, attempts, time). If every attempt stalls: RuntimeError, or with ``keep_stalled`` the
    attempt with the best held-out mIoU is kept and recorded with ``"stalled": true``.

    ``rows``: grounding rows to train on instead of synthetic data (``config.rows_fingerprint`` must
    be their :func:`rows_fingerprint`); the last ``probe_size`` of them (at most a quarter) are the
    probe and are not trained on.

    With ``config.base``, that warm start is built (or reused) first, in the same cache, and this one
    trains from its model.

    See the module's example.
    """
    config = config or WarmStartConfig()
    if rows is not None and len(rows) < MIN_ROWS:
        raise ValueError(f"warm_start: {len(rows)} training row(s); a warm start on rows needs at least {MIN_ROWS} "
                         f"({MIN_PROBE_ROWS} to probe it on, the rest to train on)")
    expected = None if rows is None else rows_fingerprint(rows)
    if config.rows_fingerprint != expected:
        raise ValueError("warm_start: config.rows_fingerprint must be rows_fingerprint(rows) when rows are given, "
                         "and None otherwise")
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / config.key(seed)
    if not (target / METRICS_FILE).is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{target}.lock"):  # runs started together with one warm start wait for one build
            if not (target / METRICS_FILE).is_file():
                return _build(target, config, seed, progress, keep_stalled, rows)
    if progress:
        stalled = json.loads((target / METRICS_FILE).read_text()).get("stalled", False)
        print(f"Warm start: reusing {target}" + (" (a STALLED warm start)" if stalled else ""), flush=True)
    return target


def _build(target: Path, config: WarmStartConfig, seed: int, progress: bool, keep_stalled: bool,
           rows: Sequence[Mapping] | None) -> Path:
    """Train, probe and save the warm start of :func:`warm_start` (attempts, stall rule) into ``target``."""
    init = None if config.base is None else warm_start(target.parent, config.base, seed, progress, keep_stalled)
    if rows is not None:
        rows = in_memory_rows(rows)
        count = max(MIN_PROBE_ROWS, min(config.probe_size, len(rows) // 4))
        rows, probe_rows = rows[:-count], rows[-count:]
    else:
        probe_rows = get_task(config.task).synthetic_rows("heldout", config.probe_size, config.synthetic, seed)
    rule = probe_for(config.task)
    attempts = []
    best = None
    start = time.time()
    for attempt in range(config.max_attempts):
        lr = config.learning_rate * config.lr_backoff**attempt
        attempt_seed = seed + 1000 * attempt
        if progress:
            data = f" on {len(rows)} of your rows" if rows else ""
            data += rule.trains_for
            start_from = "" if init is None else ", from the grounding warm start"
            what = (f"Warm start of the built-in model{data} (supervised, once: cached for later runs)" if attempt == 0
                    else f"Warm start again, try {attempt + 1} of {config.max_attempts}")
            print(f"{what}: {config.max_steps} steps{start_from}, learning rate {lr:g}, seed {attempt_seed}",
                  flush=True)
        model, processor = train_once(config, attempt_seed, lr, progress, rows=rows, init=init)
        result = rule.measure(model, processor, probe_rows, config)
        result.update(attempt=attempt + 1, learning_rate=lr, seed=attempt_seed, seconds=round(time.time() - start, 1))
        attempts.append(result)
        if progress:
            print(f"  warm-started model on {len(probe_rows)} held-out rows: {rule.summary(result)}",
                  flush=True)
        if not rule.stalled(result, config):
            _save(target, model, processor, {**result, "stalled": False, "attempts": attempts,
                                             "config": dataclasses.asdict(config)})
            return target
        if best is None or rule.score(result) > rule.score(best[0]):
            best = (result, model, processor)
        if progress:
            print(f"  stalled ({rule.stall_reason(result, config)}): restarting with a new seed and a lower learning rate", flush=True)
    if keep_stalled and best is not None:
        result, model, processor = best
        if progress:
            print(f"Warm start: every attempt stalled; keeping the best one ({rule.summary(result)}). "
                  f"GRPO will start from a model that {rule.weak_start}", flush=True)
        _save(target, model, processor, {**result, "stalled": True, "attempts": attempts,
                                         "config": dataclasses.asdict(config)})
        return target
    shown = ("mIoU", "format_valid_rate", "spread", "accuracy", "valid_rate")
    raise RuntimeError(f"warm start stalled in all {config.max_attempts} attempts (last probe: "
                       f"{ {k: attempts[-1][k] for k in shown if k in attempts[-1]} }); try a lower "
                       f"learning_rate or more max_steps")


def _save(target: Path, model, processor, summary: dict) -> None:
    """Write the model, processor and metrics to ``target`` atomically (via a ``.partial`` folder)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    (partial / METRICS_FILE).write_text(json.dumps(summary, indent=2, default=str))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
