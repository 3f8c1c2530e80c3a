"""MkDocs hook: publish the study's figures from ``experiments/results/`` (their one home) in the site.

The pages show them as ``assets/results/<name>``; nothing is copied into ``docs/``, so a new
study's figure appears in the site as soon as it is committed.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

FIGURES = ("compare_schedules.png", "adaptive_variants.png", "schedule_study.png", "schedule_study_leftpad.png",
           "grade_study.png")
RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"


def on_files(files: Files, config, **kwargs) -> Files:
    for name in FIGURES:
        files.append(File.generated(config, f"assets/results/{name}", abs_src_path=str(RESULTS / name)))
    return files
