"""The study's paired statistics (experiments/study_statistics.py): t quantiles, intervals, sign counts."""

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("study_statistics", ROOT / "experiments" / "study_statistics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("df", "expected"), [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045),
                                              (30, 2.042), (60, 2.000), (500, 1.960)])
def test_t_quantiles_match_published_values(df, expected):
    assert load().t_quantile_975(df) == pytest.approx(expected, abs=1e-3)


def test_t_table_agrees_with_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    table = load()
    for df in [*range(1, 31), 40, 60, 120]:
        assert table.t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)
    # untabled df between 30 and 120 use the next smaller tabled df: never narrower than the truth
    for df in (35, 50, 90):
        assert table.t_quantile_975(df) >= stats.t.ppf(0.975, df)


def test_paired_summary_interval_and_signs():
    summary = load().paired_summary([0.03, 0.04, 0.01, 0.03, 0.01, float("nan")])
    sd = math.sqrt(sum((v - 0.024) ** 2 for v in (0.03, 0.04, 0.01, 0.03, 0.01)) / 4)
    assert summary["n"] == 5 and summary["positive"] == 5 and summary["negative"] == 0
    assert summary["mean"] == pytest.approx(0.024)
    assert summary["high"] - summary["mean"] == pytest.approx(2.776 * sd / math.sqrt(5))


def test_one_value_has_no_interval_and_none_is_not_applicable():
    table = load()
    single = table.paired_summary([0.02])
    assert single["low"] == single["high"] == 0.02
    assert table.format_paired(table.paired_summary([])) == "n/a"


def test_bad_degrees_of_freedom_are_named():
    with pytest.raises(ValueError, match="degrees of freedom must be an integer >= 1, got 0"):
        load().t_quantile_975(0)
