"""Synthetic grounding data: determinism, box correctness, phrases that single out the target."""

import numpy as np
import pytest
import torch
from torchvision.ops import masks_to_boxes

from grounding_data.rows import read_jsonl
from grounding_data.synthetic import (
    ELONGATED_ASPECT,
    ROUND_ASPECT,
    SIZE_RATIO,
    SyntheticConfig,
    generate_split,
    iter_rows,
    make_scene,
    write_split,
)

CLEAN = SyntheticConfig(size_range=(8, 24), max_distractors=1, noise_std=0.0, speckle=0.0,
                        blur_range=(0.0, 0.0), texture=0.0)


def _pixels(row):
    return np.asarray(row["image"])


def test_rows_follow_the_contract():
    row = generate_split("train", 1, seed=0)[0]
    assert row["image"].mode == "L" and row["image"].size == (112, 112)
    assert (row["width"], row["height"], row["source"]) == (112, 112, "synthetic")
    assert row["id"] == "synthetic-train-0-0"
    [[x1, y1, x2, y2]] = row["boxes"]
    assert 0 <= x1 < x2 <= 112 and 0 <= y1 < y2 <= 112
    assert row["phrase"].startswith("the ") and "lesion" in row["phrase"]


def test_deterministic_by_seed_and_disjoint_splits():
    a, b = generate_split("train", 5, seed=7), generate_split("train", 5, seed=7)
    for ra, rb in zip(a, b):
        assert (ra["phrase"], ra["boxes"], ra["id"]) == (rb["phrase"], rb["boxes"], rb["id"])
        assert np.array_equal(_pixels(ra), _pixels(rb))
    other_seed = generate_split("train", 5, seed=8)
    heldout = generate_split("heldout", 5, seed=7)
    for ra, ro, rh in zip(a, other_seed, heldout):
        assert not np.array_equal(_pixels(ra), _pixels(ro))
        assert not np.array_equal(_pixels(ra), _pixels(rh))
    assert not {r["id"] for r in a} & {r["id"] for r in heldout}


def test_stream_resumes_where_asked():
    stream = iter_rows("train", seed=2, start=3)
    assert next(stream)["boxes"] == generate_split("train", 4, seed=2)[3]["boxes"]


def test_box_is_tight_box_of_target_pixels():
    for index in range(40):
        scene = make_scene(SyntheticConfig(), "train", seed=0, index=index)
        x1, y1, x2, y2 = masks_to_boxes(torch.from_numpy(scene.masks[0])[None])[0].tolist()
        assert scene.to_row()["boxes"] == [[int(x1), int(y1), int(x2) + 1, int(y2) + 1]]


def test_box_matches_lesion_pixels_in_a_clean_image():
    """With no noise, blur or texture, each image row is flat background except lesion pixels."""
    for index in range(30):
        scene = make_scene(CLEAN, "heldout", seed=1, index=index)
        img = np.asarray(scene.image).astype(int)
        mode = np.array([np.bincount(r).argmax() for r in img])[:, None]
        lesion_pixels = img != mode
        assert np.array_equal(lesion_pixels, np.logical_or.reduce(scene.masks))
        [[x1, y1, x2, y2]] = scene.to_row()["boxes"]
        inside = np.zeros_like(lesion_pixels)
        inside[y1:y2, x1:x2] = True
        found = masks_to_boxes(torch.from_numpy(lesion_pixels & inside)[None])[0].tolist()
        assert [int(found[0]), int(found[1]), int(found[2]) + 1, int(found[3]) + 1] == [x1, y1, x2, y2]


def _box(mask):
    x1, y1, x2, y2 = masks_to_boxes(torch.from_numpy(mask)[None])[0].tolist()
    return x1, y1, x2 + 1, y2 + 1


def test_phrases_single_out_the_target():
    seen = set()
    for index in range(300):
        scene = make_scene(SyntheticConfig(), "train", seed=0, index=index)
        target, others = scene.lesions[0], scene.lesions[1:]
        phrase, attr = scene.phrase, scene.attribute
        seen.add(attr)
        if attr == "none":
            assert not others and phrase in ("the lesion", "the bright lesion", "the dark lesion")
            continue
        assert others, phrase
        if attr == "size":
            if "larg" in phrase:
                assert all(target.diameter >= SIZE_RATIO * o.diameter - 1e-6 for o in others), phrase
            else:
                assert all(o.diameter >= SIZE_RATIO * target.diameter - 1e-6 for o in others), phrase
        elif attr == "brightness":
            sign = 1 if "bright" in phrase else -1
            assert target.polarity == sign and all(o.polarity == -sign for o in others), phrase
        elif attr == "shape":
            target_range, other_range = (ROUND_ASPECT, ELONGATED_ASPECT) if "round" in phrase else (
                ELONGATED_ASPECT, ROUND_ASPECT)
            assert target_range[0] - 1e-6 <= target.aspect <= target_range[1] + 1e-6, phrase
            assert all(other_range[0] - 1e-6 <= o.aspect <= other_range[1] + 1e-6 for o in others), phrase
        elif attr == "position":
            t = _box(scene.masks[0])
            boxes = [_box(m) for m in scene.masks[1:]]
            if "left" in phrase:
                assert all(t[2] <= b[0] for b in boxes), phrase
            elif "right" in phrase:
                assert all(t[0] >= b[2] for b in boxes), phrase
            elif "upper" in phrase or "top" in phrase:
                assert all(t[3] <= b[1] for b in boxes), phrase
            else:
                assert all(t[1] >= b[3] for b in boxes), phrase
    assert seen == {"none", "size", "brightness", "shape", "position"}


def test_difficulty_knobs_change_the_data():
    small = generate_split("train", 30, SyntheticConfig(size_range=(8, 12), distractor_prob=0.0), seed=0)
    widths = [max(r["boxes"][0][2] - r["boxes"][0][0], r["boxes"][0][3] - r["boxes"][0][1]) for r in small]
    assert max(widths) <= 13
    assert all(r["attribute"] == "none" for r in small)


def test_write_split_round_trips_through_unified_jsonl(tmp_path):
    path = write_split("heldout", 6, tmp_path, seed=4)
    rows, _ = read_jsonl(path)
    expected = generate_split("heldout", 6, seed=4)
    assert [r.boxes for r in rows] == [e["boxes"] for e in expected]
    assert [r.phrase for r in rows] == [e["phrase"] for e in expected]
    assert all(r.source == "synthetic" and (r.width, r.height) == (112, 112) for r in rows)


@pytest.mark.parametrize("kwargs, name", [
    ({"size_range": (8, 80)}, "size_range"),
    ({"contrast_range": (0.0, 0.2)}, "contrast_range"),
    ({"distractor_prob": 1.5}, "distractor_prob"),
    ({"attributes": ("colour",)}, "attributes"),
    ({"size_range": (10, 12)}, "size"),
])
def test_bad_config_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SyntheticConfig(**kwargs)


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split"):
        generate_split("test", 1)


def test_difficulty_presets():
    from grounding_data.synthetic import DIFFICULTIES, difficulty

    assert set(DIFFICULTIES) == {"easy", "standard", "distractors", "large"}
    distractors = difficulty("distractors")
    assert distractors.distractor_prob == 0.7 and distractors.size_range == (8.0, 32.0)
    for name in ("easy", "standard", "large"):  # one lesion, nothing to tell apart
        assert all(row["attribute"] == "none" for row in generate_split("heldout", 8, difficulty(name), seed=0))
    distractor_rows = generate_split("heldout", 32, distractors, seed=0)
    assert sum(row["attribute"] != "none" for row in distractor_rows) >= 16  # most name a target among distractors
    sizes = {name: np.median([max(b[2] - b[0], b[3] - b[1]) for row in generate_split("heldout", 32, difficulty(name),
                                                                                         seed=0) for b in row["boxes"]])
             for name in ("standard", "large")}
    assert sizes["standard"] < 25 < 30 < sizes["large"]
    with pytest.raises(ValueError, match="unknown synthetic difficulty 'insane'; choose from easy, standard, "
                                         "distractors, large"):
        difficulty("insane")
