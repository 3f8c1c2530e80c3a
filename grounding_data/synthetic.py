"""Synthetic medical-like grounding data: grey ultrasound/X-ray-like images, a target lesion,
distractor lesions, and a referring phrase that singles the target out.

Each image has a textured background with a depth gradient, one target ellipse and (with
probability ``distractor_prob``) 1..``max_distractors`` distractors, then blur and noise. The
phrase names the target by size ("the larger lesion"), brightness ("the bright lesion"), shape
("the round lesion") or position ("the lesion on the left"); with no distractor it may just say
"the lesion". Lesion sizes and contrasts spread over the configured ranges, so small faint
targets make strict IoU thresholds sparse.

Boxes are tight pixel-edge boxes of the target's pixels: a lesion covering columns 10..17 has
x1 = 10, x2 = 18 (``torchvision.ops.masks_to_boxes`` + 1 on x2/y2), so width = pixel count.

Everything is deterministic: row ``index`` of split ``split`` under ``seed`` always renders the
same image and phrase, and the "train" and "heldout" splits draw from disjoint seed streams.

Example:
    >>> rows = generate_split("train", 4, seed=0)
    >>> rows[0]["phrase"], rows[0]["boxes"], rows[0]["image"].size  # doctest: +SKIP
    ('the bright lesion', [[40, 52, 61, 70]], (112, 112))
    >>> write_split("heldout", 100, "data/synthetic")  # doctest: +SKIP
    PosixPath('data/synthetic/heldout.jsonl')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from grounding_data.rows import GroundingRow, write_jsonl

# torch / torchvision are imported where an image is drawn: reading the presets (``medloc train --help``)
# loads neither

SOURCE = "synthetic"
SPLITS = {"train": 0, "heldout": 1}
"""Split name -> seed-stream id (disjoint streams, so no image is in both splits)."""
ATTRIBUTES = ("size", "brightness", "shape", "position")

ROUND_ASPECT = (1.0, 1.15)
ELONGATED_ASPECT = (1.9, 2.6)
SIZE_RATIO = 1.5
"""A size-named target's diameter differs from every distractor's by at least this factor."""
GAP = 3
"""Minimum gap in pixels between the boxes of two lesions (so no lesion hides another)."""


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Difficulty knobs of the synthetic generator.

    size_range: lesion diameter (long axis) in pixels. contrast_range: |lesion - background|
    intensity on a 0..1 scale. distractor_prob: chance an image has distractors;
    max_distractors: up to this many (uniform 1..max). noise_std: additive Gaussian noise;
    speckle: multiplicative noise (ultrasound-like); blur_range: Gaussian blur sigma in pixels;
    texture: strength of the low-frequency background texture. attributes: the ways a phrase
    may name the target.

    Example:
        >>> hard = SyntheticConfig(size_range=(8, 16), contrast_range=(0.05, 0.15), noise_std=0.08)
        >>> hard.image_size
        112
    """

    image_size: int = 112
    size_range: tuple[float, float] = (8.0, 40.0)
    contrast_range: tuple[float, float] = (0.08, 0.45)
    distractor_prob: float = 0.7
    max_distractors: int = 2
    noise_std: float = 0.04
    speckle: float = 0.15
    blur_range: tuple[float, float] = (0.5, 1.5)
    texture: float = 0.08
    attributes: tuple[str, ...] = ATTRIBUTES

    def __post_init__(self):
        lo, hi = self.size_range
        if not 2 <= lo <= hi <= self.image_size / 2:
            raise ValueError(f"SyntheticConfig.size_range={self.size_range} must satisfy 2 <= lo <= hi <= "
                             f"image_size/2 = {self.image_size / 2}")
        if not 0 < self.contrast_range[0] <= self.contrast_range[1] <= 0.6:
            raise ValueError(f"SyntheticConfig.contrast_range={self.contrast_range} must lie in (0, 0.6]")
        if not 0 <= self.distractor_prob <= 1:
            raise ValueError(f"SyntheticConfig.distractor_prob={self.distractor_prob} must be in [0, 1]")
        if self.max_distractors < 0:
            raise ValueError(f"SyntheticConfig.max_distractors={self.max_distractors} must be >= 0")
        unknown = [a for a in self.attributes if a not in ATTRIBUTES]
        if unknown or not self.attributes:
            raise ValueError(f"SyntheticConfig.attributes={self.attributes}: choose from {ATTRIBUTES}")
        if "size" in self.attributes and lo * SIZE_RATIO > hi:
            raise ValueError(f"SyntheticConfig: attribute 'size' needs size_range={self.size_range} to span a "
                             f"factor of {SIZE_RATIO} (or drop 'size' from attributes)")
        if self.noise_std < 0 or self.speckle < 0 or self.texture < 0 or min(self.blur_range) < 0:
            raise ValueError("SyntheticConfig: noise_std, speckle, texture and blur_range must be >= 0")


@dataclasses.dataclass(frozen=True)
class Lesion:
    """One rendered ellipse: centre, semi-axes, rotation (radians), polarity (+1 bright, -1 dark).

    Example:
        >>> Lesion(50, 50, 10, 5, 0.0, 1, 0.3).diameter
        20
    """

    cx: float
    cy: float
    rx: float
    ry: float
    angle: float
    polarity: int
    contrast: float

    @property
    def diameter(self) -> float:
        """Long-axis length in pixels."""
        return 2 * max(self.rx, self.ry)

    @property
    def aspect(self) -> float:
        """Long axis over short axis (1 = round)."""
        return max(self.rx, self.ry) / min(self.rx, self.ry)

    def mask(self, size: int) -> np.ndarray:
        """Boolean (size, size) mask of the pixels whose centres fall inside the ellipse."""
        y, x = np.mgrid[0:size, 0:size] + 0.5
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = (x - self.cx) * c + (y - self.cy) * s
        v = -(x - self.cx) * s + (y - self.cy) * c
        return (u / self.rx) ** 2 + (v / self.ry) ** 2 <= 1.0

    def extent(self) -> tuple[float, float, float, float]:
        """Analytic bounding box (x1, y1, x2, y2) of the ellipse."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        hx = math.hypot(self.rx * c, self.ry * s)
        hy = math.hypot(self.rx * s, self.ry * c)
        return self.cx - hx, self.cy - hy, self.cx + hx, self.cy + hy


@dataclasses.dataclass
class Scene:
    """A rendered example: image, the lesions (target first), the phrase and how it names the target.

    Example:
        >>> scene = make_scene(SyntheticConfig(), "train", seed=0, index=0)
        >>> scene.to_row()["source"]
        'synthetic'
    """

    image: Image.Image
    lesions: list[Lesion]
    masks: list[np.ndarray]
    phrase: str
    attribute: str
    id: str

    @property
    def target_box(self) -> list[int]:
        """Tight pixel-edge box of the target's pixels (:func:`grounding_data.masks.pixel_edge_boxes`)."""
        import torch

        from grounding_data.masks import pixel_edge_boxes

        return [int(value) for value in pixel_edge_boxes(torch.from_numpy(self.masks[0])[None])[0]]

    def to_row(self) -> dict:
        """Training row: image (PIL), phrase, boxes, width, height, source, id, attribute."""
        width, height = self.image.size
        return {"image": self.image, "phrase": self.phrase, "boxes": [self.target_box], "width": width,
                "height": height, "source": SOURCE, "id": self.id, "attribute": self.attribute}


DIFFICULTIES: dict[str, SyntheticConfig] = {
    # one clearly visible lesion per image, little noise: what the tiny model learns in minutes
    "easy": SyntheticConfig(size_range=(12.0, 40.0), contrast_range=(0.3, 0.5), distractor_prob=0.0,
                            noise_std=0.01, speckle=0.0, texture=0.0),
    # one small, faint lesion in speckle and texture: a binary reward at tau 0.5 starts mostly starved
    "standard": SyntheticConfig(size_range=(8.0, 32.0), contrast_range=(0.15, 0.45), distractor_prob=0.0,
                                noise_std=0.02, speckle=0.08, texture=0.04),
    # standard's imaging plus distractors the phrase names apart (the tiny model learns little here)
    "distractors": SyntheticConfig(size_range=(8.0, 32.0), contrast_range=(0.15, 0.45), noise_std=0.02,
                                   speckle=0.08, texture=0.04),
    # one large, clear lesion: boxes the model can place within a pixel or two, so strict thresholds can pay
    "large": SyntheticConfig(size_range=(28.0, 52.0), contrast_range=(0.3, 0.5), distractor_prob=0.0,
                             noise_std=0.01, speckle=0.0, texture=0.0),
}
"""Named difficulty presets of the synthetic generator."""


def difficulty(name: str) -> SyntheticConfig:
    """The preset called ``name`` (see :data:`DIFFICULTIES`).

    Example:
        >>> difficulty("easy").distractor_prob
        0.0
    """
    if name not in DIFFICULTIES:
        raise ValueError(f"unknown synthetic difficulty {name!r}; choose from {', '.join(DIFFICULTIES)}")
    return DIFFICULTIES[name]


def _rng(split: str, seed: int, index: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose from {sorted(SPLITS)}")
    return np.random.default_rng([SPLITS[split], seed, index])


def _shape(rng: np.random.Generator, diameter: float, aspect: float) -> tuple[float, float, float]:
    rx = diameter / 2
    return rx, rx / aspect, float(rng.uniform(0, math.pi))


def _plan(config: SyntheticConfig, rng: np.random.Generator, attribute: str, n_distractors: int):
    """Diameters, aspects and polarities for target (index 0) and distractors, plus the phrase word."""
    lo, hi = config.size_range
    n = 1 + n_distractors
    aspects = rng.uniform(1.0, 2.2, n)
    polarities = rng.choice([-1, 1], n)
    diameters = rng.uniform(lo, hi, n)
    word = ""
    if attribute == "size":
        larger = bool(rng.integers(2))
        if larger:
            diameters[0] = rng.uniform(lo * SIZE_RATIO, hi)
            diameters[1:] = rng.uniform(lo, diameters[0] / SIZE_RATIO, n - 1)
        else:
            diameters[0] = rng.uniform(lo, hi / SIZE_RATIO)
            diameters[1:] = rng.uniform(diameters[0] * SIZE_RATIO, hi, n - 1)
        superlative = n > 2
        word = ("largest" if superlative else "larger") if larger else ("smallest" if superlative else "smaller")
    elif attribute == "brightness":
        polarities[0] = rng.choice([-1, 1])
        polarities[1:] = -polarities[0]
        word = "bright" if polarities[0] > 0 else "dark"
    elif attribute == "shape":
        round_target = bool(rng.integers(2))
        target_range, other_range = (ROUND_ASPECT, ELONGATED_ASPECT) if round_target else (
            ELONGATED_ASPECT, ROUND_ASPECT)
        aspects[0] = rng.uniform(*target_range)
        aspects[1:] = rng.uniform(*other_range, n - 1)
        word = "round" if round_target else "elongated"
    return diameters, aspects, polarities, word


def _boxes_apart(a, b) -> bool:
    return a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1]


def _place(config: SyntheticConfig, rng, diameters, aspects, polarities) -> list[Lesion] | None:
    lo_c, hi_c = config.contrast_range
    size = config.image_size
    lesions: list[Lesion] = []
    for diameter, aspect, polarity in zip(diameters, aspects, polarities):
        rx, ry, angle = _shape(rng, float(diameter), float(aspect))
        for _ in range(50):
            margin = max(rx, ry) + 1
            lesion = Lesion(float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin)),
                            rx, ry, angle, int(polarity), float(rng.uniform(lo_c, hi_c)))
            if all(_boxes_apart(lesion.extent(), other.extent()) for other in lesions):
                lesions.append(lesion)
                break
        else:
            return None
    return lesions


POSITION_WORDS = {  # direction -> (two lesions, three or more)
    "left": ("the lesion on the left", "the leftmost lesion"),
    "right": ("the lesion on the right", "the rightmost lesion"),
    "top": ("the upper lesion", "the topmost lesion"),
    "bottom": ("the lower lesion", "the lowest lesion"),
}


def _extreme_in(lesions: list[Lesion], masks: list[np.ndarray], direction: str) -> int | None:
    """Index of the lesion whose pixels lie wholly beyond every other's in `direction`, if any."""
    import torch
    from torchvision.ops import masks_to_boxes

    boxes = [masks_to_boxes(torch.from_numpy(m)[None])[0].tolist() for m in masks]
    for i, box in enumerate(boxes):
        others = [b for j, b in enumerate(boxes) if j != i]
        if direction == "left" and all(box[2] + GAP <= b[0] for b in others):
            return i
        if direction == "right" and all(box[0] >= b[2] + GAP for b in others):
            return i
        if direction == "top" and all(box[3] + GAP <= b[1] for b in others):
            return i
        if direction == "bottom" and all(box[1] >= b[3] + GAP for b in others):
            return i
    return None


def _background(config: SyntheticConfig, rng) -> np.ndarray:
    size = config.image_size
    coarse = rng.normal(0, 1, (6, 6)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))
    depth = np.linspace(0, 1, size, dtype=np.float32)[:, None] * rng.uniform(-0.15, 0.05)
    return rng.uniform(0.3, 0.5) + depth + config.texture * texture


def _render(config: SyntheticConfig, rng, lesions: list[Lesion], masks: list[np.ndarray]) -> Image.Image:
    import torch
    from torchvision.transforms.functional import gaussian_blur

    img = _background(config, rng)
    for lesion, mask in zip(lesions, masks):
        img = img + mask * (lesion.polarity * lesion.contrast)
    sigma = float(rng.uniform(*config.blur_range))
    tensor = torch.from_numpy(img.astype(np.float32))[None, None]
    if sigma > 0:
        tensor = gaussian_blur(tensor, kernel_size=2 * math.ceil(3 * sigma) + 1, sigma=sigma)
    img = tensor[0, 0].numpy()
    if config.speckle > 0:
        img = img * (1 + config.speckle * rng.standard_normal(img.shape).astype(np.float32))
    if config.noise_std > 0:
        img = img + config.noise_std * rng.standard_normal(img.shape).astype(np.float32)
    pixels = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def make_scene(config: SyntheticConfig, split: str, seed: int, index: int) -> Scene:
    """Render row `index` of `split` under `seed` (deterministic).

    Example:
        >>> scene = make_scene(SyntheticConfig(distractor_prob=0.0), "heldout", seed=1, index=5)
        >>> len(scene.lesions), scene.attribute
        (1, 'none')
    """
    rng = _rng(split, seed, index)
    size = config.image_size
    with_distractors = config.max_distractors > 0 and rng.random() < config.distractor_prob
    n_distractors = int(rng.integers(1, config.max_distractors + 1)) if with_distractors else 0
    attribute = str(rng.choice(config.attributes)) if n_distractors else "none"
    for _ in range(100):
        diameters, aspects, polarities, word = _plan(config, rng, attribute, n_distractors)
        lesions = _place(config, rng, diameters, aspects, polarities)
        if lesions is None:
            continue
        masks = [lesion.mask(size) for lesion in lesions]
        if not all(m.any() for m in masks):
            continue
        if attribute == "position":
            direction = str(rng.choice(list(POSITION_WORDS)))
            target = _extreme_in(lesions, masks, direction)
            if target is None:
                continue
            order = [target] + [i for i in range(len(lesions)) if i != target]
            lesions, masks = [lesions[i] for i in order], [masks[i] for i in order]
            phrase = POSITION_WORDS[direction][len(lesions) > 2]
        elif attribute == "none":
            phrase = str(rng.choice(["the lesion", f"the {'bright' if lesions[0].polarity > 0 else 'dark'} lesion"]))
        else:
            phrase = f"the {word} lesion"
        image = _render(config, rng, lesions, masks)
        return Scene(image, lesions, masks, phrase, attribute, f"{SOURCE}-{split}-{seed}-{index}")
    raise RuntimeError(f"make_scene: could not place lesions for {split} seed={seed} index={index}; "
                       f"size_range={config.size_range} is too large for image_size={size}")


def iter_rows(split: str = "train", config: SyntheticConfig | None = None, seed: int = 0,
              start: int = 0) -> Iterator[dict]:
    """Endless stream of rows (fresh data for training), from row `start` on.

    Example:
        >>> row = next(iter_rows("train", seed=3))
        >>> sorted(row)
        ['attribute', 'boxes', 'height', 'id', 'image', 'phrase', 'source', 'width']
    """
    config = config or SyntheticConfig()
    index = start
    while True:
        yield make_scene(config, split, seed, index).to_row()
        index += 1


def generate_split(split: str, n: int, config: SyntheticConfig | None = None, seed: int = 0,
                   start: int = 0) -> list[dict]:
    """The first `n` rows of `split` (see iter_rows), or `n` rows from row `start` on.

    Example:
        >>> [r["id"] for r in generate_split("heldout", 2, seed=0)]
        ['synthetic-heldout-0-0', 'synthetic-heldout-0-1']
        >>> [r["id"] for r in generate_split("heldout", 1, seed=0, start=5)]
        ['synthetic-heldout-0-5']
    """
    if n < 0:
        raise ValueError(f"generate_split: n={n} must be >= 0")
    stream = iter_rows(split, config, seed, start)
    return [next(stream) for _ in range(n)]


def write_split(split: str, n: int, out_dir: str | Path, config: SyntheticConfig | None = None,
                seed: int = 0) -> Path:
    """Write `n` rows of `split` as PNGs under out_dir/images/ and unified jsonl out_dir/<split>.jsonl.

    Image paths in the jsonl are relative to out_dir (grounding_data.rows.read_jsonl resolves them).

    Example:
        >>> write_split("heldout", 50, "/tmp/synth")  # doctest: +SKIP
        PosixPath('/tmp/synth/heldout.jsonl')
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for row in generate_split(split, n, config, seed):
        rel = Path("images") / f"{row['id']}.png"
        row["image"].save(out_dir / rel)
        rows.append(GroundingRow(str(rel), row["phrase"], row["boxes"], row["width"], row["height"],
                                 row["source"], row["id"]))
    path = out_dir / f"{split}.jsonl"
    write_jsonl(rows, path)
    return path
