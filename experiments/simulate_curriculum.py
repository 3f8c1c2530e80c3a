"""A fast simulator of GRPO on box prediction, for designing threshold schedules.

What it models
--------------
A *parametric box policy* replaces the vision-language model. For each prompt there is a true
box (centre ``c``, width ``w``, height ``h`` as fractions of the image side). The policy writes a
box whose

- centre is ``c + perception + w * offset + spread_c * eps`` (``offset`` learnable, in units of
  the box size: a systematic placement error; ``spread_c`` learnable, in image units: the
  sampling noise; ``perception`` a fixed per-prompt error in image units that no update can
  remove: the model's perception limit, 0 by default),
- log-size is ``log w + scale + spread_s * eps`` (``scale`` learnable: e.g. boxes drawn 15% looser
  per side start at ``log 1.3``; ``spread_s`` learnable),

rounded to a coordinate grid (``grid`` values per side; 0: continuous) and clipped to the image.
Six parameters per seed: two offsets, two log-scales, two log-spreads. With probability ``slip`` a
sampled completion is instead a box of the right size at a random place (a wrong target or a broken
answer: IoU near 0, no gradient; the greedy held-out answer never slips). Slips are what make a
group's mean IoU fall below its typical answer the way sampling at a temperature does on the testbed.

One GRPO step: ``prompts`` fresh prompts, ``G`` sampled boxes each; IoUs from medloc's
:func:`medloc.boxes.paired_box_iou`; rewards ``medloc.rewards.threshold_rewards(ious, tau)`` (or the
raw IoU for ``soft-iou``); TRL's group-relative advantages ``(r - mean_g) / (std_g + 1e-4)``
(unbiased std, as ``torch.std``); the policy-gradient ``mean(A * grad log p)`` (one update per
generation batch, so the importance ratio is 1, as in TRL with ``num_iterations=1``) applied with
Adam (betas 0.9 / 0.999) at a learning rate decaying linearly to 0 (TRL's default scheduler). The
schedule is the real class from :mod:`schedulers`, driven through the real protocol: ``observe(ious,
groups)`` then ``step()`` once per batch, the batch rewarded at the tau before the step.
Held-out: 256 fixed prompts per seed scored with the policy's mean box (greedy decoding).

Every arm of a seed sees the same prompts, perception errors and sampling noise (common random
numbers), so paired differences between arms are tight. Hundreds of seeds of a 300-step run take
seconds (the schedules' Python ``step`` is most of the time).

What it does not model
----------------------
- No representation learning: the policy cannot learn per-image features; what it learns is a
  global bias and its spread. A real model also learns *where* each lesion is; here that error is
  either absent (``perception`` 0: every box can become exact) or fixed (a hard ceiling).
- No KL penalty, no format errors, no multi-box answers, no per-token credit assignment, no
  clipping (ratio is 1), no temperature separate from the learnable spread.
- Binary rewards reach the parameters through a smooth Gaussian policy; a language model's
  coordinate tokens are discrete and correlated. Absolute numbers (mIoU, steps) do not transfer to
  the testbed; the *ordering* of schedules in a regime, and where starvation stops learning, is
  what the simulator is for. Confirm on the testbed.

Usage::

    python experiments/simulate_curriculum.py --seeds 200 --regimes loose far small  # tables
    python experiments/simulate_curriculum.py --list                                     # regimes, arms
    python experiments/simulate_curriculum.py --seeds 100 --arms fixed-0.5 adaptive --regimes far \
        --set far.lr=0.02 --name lr_probe

Results: one JSON line per (regime, arm) in ``experiments/results/<name>.jsonl`` (per-seed final
metrics included) and the paired-difference tables in ``<name>.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import schedulers  # noqa: E402
from medloc.boxes import paired_box_iou  # noqa: E402
from medloc.rewards import threshold_rewards  # noqa: E402
from study_statistics import paired_summary  # noqa: E402

RESULTS_DIR = Path(__file__).parent / "results"
ADV_EPS = 1e-4


@dataclasses.dataclass(frozen=True)
class Regime:
    """One simulated testbed.

    Attributes:
        size: median box side as a fraction of the image (per prompt: ``size * exp(N(0, 0.3))``).
        loose: start log-scale bias (``log(1 + 2 * margin)``: 0.262 = boxes 15% looser per side).
        offset: start centre offset in units of the box size (both axes).
        spread: start sampling spread: centre std in units of ``size``, log-size std as is.
        perception: per-prompt centre error std in units of ``size`` that no update removes (0: none).
        slip: probability that a sampled completion lands at a random place (no gradient).
        grid: coordinate values per image side (boxes are rounded); 0: continuous.
        generations: G, completions per prompt.
        prompts: prompts per step.
        lr: Adam learning rate (decays linearly to 0 over ``steps``).
        steps: GRPO steps.
    """

    size: float = 0.25
    loose: float = 0.262
    offset: float = 0.0
    spread: float = 0.15
    perception: float = 0.0
    slip: float = 0.0
    grid: int = 100
    generations: int = 8
    prompts: int = 4
    lr: float = 0.003
    steps: int = 300


REGIMES: dict[str, Regime] = {
    # the `easy` testbed's shape: boxes 15% looser per side, big targets, a perception limit near
    # mIoU 0.64 (the tiny model's plateau); fixed 0.5 is not starved
    "loose": Regime(perception=0.15),
    # far from the truth: loose, shifted, noisy; about half the groups start starved at 0.5
    "far": Regime(loose=0.5, offset=0.25, spread=0.3, perception=0.05),
    # farther: most groups start starved at 0.5, fixed 0.3 still learns
    "starved": Regime(loose=0.7, offset=0.35, spread=0.3, perception=0.05),
    # small targets: a grid step is an eighth of the box; strict thresholds reachable (no perception limit)
    "small": Regime(size=0.08, loose=0.4, offset=0.15, spread=0.25),
    # a perception limit at mIoU ~0.7: strict thresholds pay only partly
    "ceiling": Regime(loose=0.4, offset=0.15, spread=0.25, perception=0.12),
}
"""Named regimes; ``--set NAME.FIELD=VALUE`` changes one, ``--sweep FIELD=V1,V2`` makes a family."""

ARMS: dict[str, dict[str, Any]] = {
    "fixed-0.3": {"schedule": "fixed", "options": {"threshold": 0.3}},
    "fixed-0.5": {"schedule": "fixed", "options": {"threshold": 0.5}},
    "fixed-0.6": {"schedule": "fixed", "options": {"threshold": 0.6}},
    "fixed-0.8": {"schedule": "fixed", "options": {"threshold": 0.8}},
    "linear": {"schedule": "linear", "options": {}},
    "progress": {"schedule": "progress", "options": {}},
    "soft-iou": {"schedule": None, "options": {}},
    "adaptive-paper": {"schedule": "adaptive", "options": {"preset": "paper"}},
    "adaptive": {"schedule": "adaptive", "options": {}},
    "informative": {"schedule": "informative", "options": {}},
}
FIXED_ARMS = ("fixed-0.3", "fixed-0.5", "fixed-0.6", "fixed-0.8")
REFERENCE_ARM = "fixed-0.5"
EVAL_EVERY = 50
HELDOUT = 256
EARLY_STEPS = 30


def sample_truth(rng: np.random.Generator, shape: tuple[int, ...], regime: Regime) -> np.ndarray:
    """True boxes as ``(..., 4)`` centre-x, centre-y, width, height in image fractions."""
    sides = np.clip(regime.size * np.exp(rng.normal(0.0, 0.3, (*shape, 2))), 0.02, 0.8)
    centres = rng.uniform(sides / 2, 1 - sides / 2)
    return np.concatenate([centres, sides], axis=-1)


def to_corners(boxes: np.ndarray, grid: int) -> np.ndarray:
    """``(..., 4)`` centre/size boxes to clipped ``x1, y1, x2, y2`` corners, rounded to the grid."""
    half = boxes[..., 2:] / 2
    corners = np.clip(np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1), 0.0, 1.0)
    return np.round(corners * grid) / grid if grid else corners


def box_ious(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU of corner boxes with the same leading shape, through medloc's vectorised box IoU."""
    flat = np.asarray(paired_box_iou(pred.reshape(-1, 4), truth.reshape(-1, 4)))
    return flat.reshape(pred.shape[:-1]).astype(np.float64)


def mean_boxes(theta: np.ndarray, truth: np.ndarray, perception: np.ndarray) -> np.ndarray:
    """The policy's mean (greedy) box for ``truth`` ``(S, ..., 4)`` under parameters ``theta`` ``(S, 6)``."""
    extra = (slice(None),) + (None,) * (truth.ndim - 2)
    offset, scale = theta[:, :2][extra], theta[:, 2:4][extra]
    centre = truth[..., :2] + perception + truth[..., 2:] * offset
    return np.concatenate([centre, truth[..., 2:] * np.exp(scale)], axis=-1)


def initial_theta(regime: Regime, seeds: int) -> np.ndarray:
    """``(S, 6)``: offsets, log-scales, log centre spread (image units), log log-size spread."""
    theta = np.zeros((seeds, 6))
    theta[:, :2] = regime.offset
    theta[:, 2:4] = regime.loose
    theta[:, 4] = math.log(regime.spread * regime.size)
    theta[:, 5] = math.log(regime.spread)
    return theta


@dataclasses.dataclass
class Adam:
    """Adam on a ``(S, 6)`` parameter array (one optimizer per seed, vectorised)."""

    shape: tuple[int, int]
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        self.m, self.v, self.t = np.zeros(self.shape), np.zeros(self.shape), 0

    def update(self, gradient: np.ndarray, lr: float) -> np.ndarray:
        """The ascent step for ``gradient`` at learning rate ``lr``."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient**2
        m_hat, v_hat = self.m / (1 - self.beta1**self.t), self.v / (1 - self.beta2**self.t)
        return lr * m_hat / (np.sqrt(v_hat) + self.eps)


def group_advantages(rewards: np.ndarray) -> np.ndarray:
    """TRL's ``(r - mean_g) / (std_g + 1e-4)`` over the last axis (a group); unbiased std.

    Example:
        >>> group_advantages(np.array([[1.0, 0.0], [1.0, 1.0]])).round(3).tolist()
        [[0.707, -0.707], [0.0, 0.0]]
    """
    return (rewards - rewards.mean(-1, keepdims=True)) / (rewards.std(-1, ddof=1, keepdims=True) + ADV_EPS)


def heldout_metrics(ious: np.ndarray) -> dict[str, np.ndarray]:
    """Per seed ``(S,)``: mIoU, A@0.5, A@0.8 and pseudo-mAP (mean A@t, t = 0.50..0.95) of ``(S, H)`` IoUs."""
    thresholds = np.arange(0.5, 0.951, 0.05)
    return {
        "mIoU": ious.mean(1),
        "A@0.5": (ious >= 0.5).mean(1),
        "A@0.8": (ious >= 0.8).mean(1),
        "pseudo_mAP": np.mean([(ious >= t).mean(1) for t in thresholds], axis=0),
    }


def build_schedules(arm: dict[str, Any], seeds: int, steps: int) -> list[schedulers.RewardSchedule] | None:
    if arm["schedule"] is None:
        return None
    options = dict(arm["options"])
    if schedulers.schedule_class(arm["schedule"]).needs_total_steps:
        options.setdefault("total_steps", steps)
    return [schedulers.build(arm["schedule"], **options) for _ in range(seeds)]


def simulate(regime: Regime, arm: dict[str, Any], seeds: int, first_seed: int = 0) -> dict[str, Any]:
    """Run one arm on one regime for ``seeds`` seeds at once; per-seed results as lists."""
    S, P, G = seeds, regime.prompts, regime.generations
    noise = [np.random.default_rng([first_seed + s, 7]) for s in range(S)]  # common random numbers per seed
    heldout_rng = [np.random.default_rng([first_seed + s, 11]) for s in range(S)]
    held_truth = np.stack([sample_truth(r, (HELDOUT,), regime) for r in heldout_rng])
    held_perception = np.stack([r.normal(0.0, regime.perception * regime.size, (HELDOUT, 2)) for r in heldout_rng])
    held_corners = to_corners(held_truth, 0)

    def evaluate(theta: np.ndarray) -> dict[str, np.ndarray]:
        return heldout_metrics(box_ious(to_corners(mean_boxes(theta, held_truth, held_perception), regime.grid),
                                        held_corners))

    theta = initial_theta(regime, S)
    adam = Adam(theta.shape)
    schedules = build_schedules(arm, S, regime.steps)
    taus = np.array([s.threshold for s in schedules]) if schedules else np.full(S, np.nan)
    groups = np.repeat(np.arange(P), G)
    trajectory = [taus.copy()]
    zero_variance, history = [], [(0, evaluate(theta))]
    condition_counts: dict[str, np.ndarray] = {}
    binding_counts: dict[str, np.ndarray] = {}
    decisions = np.zeros(S)
    for step in range(regime.steps):
        draws = [(sample_truth(r, (P,), regime), r.normal(0.0, regime.perception * regime.size, (P, 2)),
                  r.standard_normal((P, G, 4)), r.random((P, G)), r.random((P, G, 2))) for r in noise]
        truth = np.stack([d[0] for d in draws])[:, :, None, :]  # (S, P, 1, 4)
        perception = np.stack([d[1] for d in draws])[:, :, None, :]
        eps = np.stack([d[2] for d in draws])  # (S, P, G, 4)
        slipped = np.stack([d[3] for d in draws]) < regime.slip  # (S, P, G)
        elsewhere = np.stack([d[4] for d in draws])  # random centres of slipped completions
        spread_c, spread_s = np.exp(theta[:, 4])[:, None, None, None], np.exp(theta[:, 5])[:, None, None, None]
        mean = mean_boxes(theta, truth, perception)  # (S, P, 1, 4)
        centre = mean[..., :2] + spread_c * eps[..., :2]
        log_size = np.log(mean[..., 2:]) + spread_s * eps[..., 2:]
        centre = np.where(slipped[..., None], elsewhere, centre)
        sampled = np.concatenate([centre, np.exp(log_size)], axis=-1)
        ious = box_ious(to_corners(sampled, regime.grid), np.broadcast_to(to_corners(truth, 0), sampled.shape))
        if schedules is None:
            rewards = ious
        else:
            rewards = np.stack([threshold_rewards(ious[s], taus[s]) for s in range(S)])
        if step < EARLY_STEPS:
            zero_variance.append((rewards.std(-1) == 0).mean(-1))
        advantages = np.where(slipped, 0.0, group_advantages(rewards))[..., None]  # (S, P, G, 1): slips carry no gradient
        # d log p / d theta for the Gaussian centre (mean moves with offset * size) and log-size
        z_c, z_s = eps[..., :2], eps[..., 2:]
        gradient = np.concatenate([
            (advantages * z_c / spread_c * truth[..., 2:]).mean((1, 2)),
            (advantages * z_s / spread_s).mean((1, 2)),
            (advantages * (z_c**2 - 1)).sum(-1).mean((1, 2))[:, None],
            (advantages * (z_s**2 - 1)).sum(-1).mean((1, 2))[:, None],
        ], axis=-1)
        theta = theta + adam.update(gradient, regime.lr * (1 - step / regime.steps))
        theta[:, 4:] = np.maximum(theta[:, 4:], math.log(1e-4))
        if schedules is not None:
            flat = ious.reshape(S, -1)
            for s, schedule in enumerate(schedules):
                schedule.observe(flat[s], groups)
                taus[s] = schedule.step()
                decision = getattr(schedule, "last_decision", None)
                if decision is not None and decision.stats is not None:
                    decisions[s] += 1
                    failed = [name for name, held in decision.conditions.items() if held is False]
                    for name, held in decision.conditions.items():
                        if held is not None:
                            condition_counts.setdefault(name, np.zeros(S))[s] += held
                            binding_counts.setdefault(name, np.zeros(S))[s] += failed == [name]
            trajectory.append(taus.copy())
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == regime.steps:
            history.append((step + 1, evaluate(theta)))
    final = history[-1][1]
    trajectory = np.array(trajectory)  # (steps + 1, S)
    levels = {f"{level:g}": [int(np.argmax(trajectory[:, s] >= level - 1e-9)) if (trajectory[:, s] >= level - 1e-9).any()
                             else None for s in range(S)] for level in (0.45, 0.6, 0.7, 0.8)}
    return {
        "final": {key: values.tolist() for key, values in final.items()},
        "start": {key: values.tolist() for key, values in history[0][1].items()},
        "curve": [(step, float(np.mean(metrics["mIoU"]))) for step, metrics in history],
        "early_zero_variance": float(np.mean(zero_variance)) if zero_variance else float("nan"),
        "final_tau": None if schedules is None else taus.tolist(),
        "tau_level_steps": None if schedules is None else levels,
        "conditions_held": {name: float(counts.sum() / max(decisions.sum(), 1)) for name, counts in condition_counts.items()},
        "conditions_binding": {name: float(counts.sum() / max(decisions.sum(), 1))
                               for name, counts in binding_counts.items()},
    }


def parse_value(text: str) -> Any:
    """A number, a bool, or the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.startswith("["):
        return json.loads(text)
    return text


def parse_arm(spec: str) -> tuple[str, dict[str, Any]]:
    """An arm from ``ARMS`` or ``NAME=SCHEDULE[:KEY=VALUE;...]`` (``;`` between options: values may hold commas).

    Example:
        >>> parse_arm("w10=adaptive:window=10;min_margin=0.05")
        ('w10', {'schedule': 'adaptive', 'options': {'window': 10, 'min_margin': 0.05}})
    """
    if spec in ARMS:
        return spec, ARMS[spec]
    name, separator, rest = spec.partition("=")
    if not separator:
        raise SystemExit(f"unknown arm {spec!r}; known: {', '.join(ARMS)}; or NAME=SCHEDULE[:KEY=VALUE;...]")
    schedule, _, options = rest.partition(":")
    pairs = [item.partition("=") for item in options.split(";") if item]
    return name, {"schedule": None if schedule == "soft-iou" else schedule,
                  "options": {key: parse_value(value) for key, _, value in pairs}}


def regime_table(regime_name: str, results: dict[str, dict[str, Any]], metric: str = "mIoU") -> list[str]:
    """Markdown rows: per arm, the final metric and paired differences against fixed 0.5 and the best fixed arm."""
    fixed = [arm for arm in FIXED_ARMS if arm in results]
    best = max(fixed, key=lambda arm: statistics.fmean(results[arm]["final"][metric])) if fixed else None
    lines = [f"| arm | {metric} | A@0.8 | vs {REFERENCE_ARM} | vs best fixed ({best}) | zero-var early | final tau |",
             "|---|---|---|---|---|---|---|"]
    for arm, result in results.items():
        values = result["final"][metric]
        cells = [f"{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}",
                 f"{statistics.fmean(result['final']['A@0.8']):.3f}"]
        for reference in (REFERENCE_ARM, best):
            if reference is None or reference not in results or reference == arm:
                cells.append("-")
                continue
            summary = paired_summary(np.subtract(values, results[reference]["final"][metric]).tolist())
            cells.append(f"{summary['mean']:+.3f} [{summary['low']:+.3f}, {summary['high']:+.3f}] "
                         f"({summary['positive']}/{summary['n']})")
        cells.append(f"{result['early_zero_variance']:.2f}")
        cells.append("-" if result["final_tau"] is None else f"{statistics.fmean(result['final_tau']):.2f}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def versus_table(records: list[dict[str, Any]], reference: str, metric: str = "mIoU") -> list[str]:
    """Markdown: one row per arm, one column per regime: the paired difference in final ``metric``
    against ``reference`` (mean [95% t-interval] and the count of seeds with a positive difference)."""
    regimes = list(dict.fromkeys(r["regime"] for r in records))
    finals = {(r["regime"], r["arm"]): r["final"][metric] for r in records}
    lines = [f"| arm (minus {reference}) | " + " | ".join(regimes) + " |", "|---" * (1 + len(regimes)) + "|"]
    for arm in dict.fromkeys(r["arm"] for r in records):
        if arm == reference:
            continue
        cells = []
        for regime in regimes:
            if (regime, arm) not in finals or (regime, reference) not in finals:
                cells.append("-")
                continue
            summary = paired_summary(np.subtract(finals[regime, arm], finals[regime, reference]).tolist())
            cells.append(f"{summary['mean']:+.3f} [{summary['low']:+.3f}, {summary['high']:+.3f}] "
                         f"({summary['positive']}/{summary['n']})")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES))
    parser.add_argument("--arms", nargs="+", default=list(ARMS))
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--set", nargs="*", default=[], metavar="REGIME.FIELD=VALUE",
                        help="change a regime field, e.g. far.lr=0.02 (or *.lr=0.02 for every regime)")
    parser.add_argument("--sweep", default=None, metavar="FIELD=V1,V2,...",
                        help="run each regime once per value of FIELD (regime names get a suffix)")
    parser.add_argument("--name", default="simulate_curriculum")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--list", action="store_true", help="print the regimes and arms and exit")
    parser.add_argument("--versus", default=None, metavar="ARM",
                        help="only read <name>.jsonl and write <name>_vs_<ARM>.md: every arm minus ARM, per regime")
    args = parser.parse_args(argv)
    if args.versus:
        path = Path(args.results_dir) / f"{args.name}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        text = "\n".join([f"# {args.name}: paired differences in final mIoU against `{args.versus}`", "",
                          f"From `{path.name}`; mean [95% t-interval] (seeds with a positive difference / seeds).", "",
                          *versus_table(records, args.versus), ""])
        (Path(args.results_dir) / f"{args.name}_vs_{args.versus}.md").write_text(text)
        print(text)
        return
    if args.list:
        for name, regime in REGIMES.items():
            print(f"{name}: {regime}")
        print("arms:", ", ".join(ARMS))
        return
    regimes = {name: REGIMES[name] for name in args.regimes}
    for item in args.set:
        target, _, value = item.partition("=")
        regime_name, _, field = target.partition(".")
        for name in (list(regimes) if regime_name == "*" else [regime_name]):
            regimes[name] = dataclasses.replace(regimes[name], **{field: parse_value(value)})
    if args.sweep:
        field, _, values = args.sweep.partition("=")
        regimes = {f"{name}[{field}={value}]": dataclasses.replace(regime, **{field: parse_value(value)})
                   for name, regime in regimes.items() for value in values.split(",")}
    arms = dict(parse_arm(spec) for spec in args.arms)
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# Simulator: {args.seeds} seeds per arm", "",
             "Final held-out mIoU (mean ± sd over seeds), A@0.8; paired differences in mIoU: mean [95% t-interval] "
             "(seeds with a positive difference / seeds). Command: `python experiments/simulate_curriculum.py "
             + " ".join(sys.argv[1:] if argv is None else argv) + "`", ""]
    with (results_dir / f"{args.name}.jsonl").open("w") as file:
        for regime_name, regime in regimes.items():
            started = time.time()
            results = {arm_name: simulate(regime, arm, args.seeds) for arm_name, arm in arms.items()}
            for arm_name, result in results.items():
                file.write(json.dumps({"regime": regime_name, "settings": dataclasses.asdict(regime), "arm": arm_name,
                                       "arm_spec": arms[arm_name], "seeds": args.seeds, **result}) + "\n")
            table = regime_table(regime_name, results)
            start = results[next(iter(results))]["start"]
            header = (f"## {regime_name} ({time.time() - started:.0f}s): {regime}\n\nstart: mIoU "
                      f"{statistics.fmean(start['mIoU']):.3f}, A@0.5 {statistics.fmean(start['A@0.5']):.3f}")
            print(f"\n{header}\n" + "\n".join(table), flush=True)
            lines += [header, "", *table, ""]
            for key, title in (("conditions_held", "held"), ("conditions_binding", "was the only one to fail")):
                conditions = {arm: r[key] for arm, r in results.items() if r[key]}
                if conditions:
                    lines += [f"Share of decisions (at least a full window) at which each condition {title}: "
                              + "; ".join(f"{arm}: " + ", ".join(f"{k} {v:.2f}" for k, v in held.items())
                                          for arm, held in conditions.items()), ""]
    (results_dir / f"{args.name}.md").write_text("\n".join(lines))
    print(f"\nresults: {results_dir / (args.name + '.jsonl')}, {results_dir / (args.name + '.md')}")


if __name__ == "__main__":
    main()
