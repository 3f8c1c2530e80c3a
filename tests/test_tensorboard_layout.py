"""The custom-scalars layout draws exactly the intended series, as TensorBoard's own plugin resolves them.

A run's event file holds every tag TRL writes (``train/reward`` next to ``train/reward_std`` and
``train/rewards/*``); each line chart's tag list is joined as TensorBoard's frontend joins it and
handed to the custom-scalars plugin, whose matches must be the chart's series and nothing else.
"""

from __future__ import annotations

import re
import warnings

import pytest
from google.protobuf import json_format
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.custom_scalar import layout_pb2
from torch.utils.tensorboard import SummaryWriter

from medloc.curriculum_core import METRIC_PREFIX
from medloc.tensorboard import TRL_PREFIX, CurriculumWriter, chart_series

CURRICULUM = ["threshold", "hit_rate", "window_hit_rate", "zero_variance_share", "starved_share",
              "condition_hit_rate", "condition_reward_std", "condition_margin", "condition_density",
              "window_reward_std", "window_margin", "mean_iou", "raised"]
TRL = ["reward", "reward_std", "rewards/iou_curriculum/mean", "rewards/iou_curriculum/std",
       "rewards/format_reward_none/mean", "frac_reward_zero_std", "loss", "kl"]


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tb")
    writer = SummaryWriter(str(folder))
    CurriculumWriter(writer, mirror=False).close()
    for step, tau in enumerate((0.3, 0.3, 0.45, 0.45, 0.55)):
        for name in CURRICULUM:
            writer.add_scalar(TRL_PREFIX + METRIC_PREFIX + name, tau if name == "threshold" else 0.5, step)
        for name in TRL:
            writer.add_scalar(TRL_PREFIX + name, 1.0, step)
    writer.close()
    with warnings.catch_warnings():  # tensorboard's vendored bleach warns that html5lib's sanitizer is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        from tensorboard.plugins.custom_scalar.custom_scalars_plugin import CustomScalarsPlugin
        from tensorboard.plugins.scalar.scalars_plugin import ScalarsPlugin
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(folder))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(folder))
    instances = {}
    tb_context = base_plugin.TBContext(logdir=str(folder), data_provider=provider,
                                       plugin_name_to_instance=instances)
    instances["scalars"] = ScalarsPlugin(tb_context)
    instances["custom_scalars"] = CustomScalarsPlugin(tb_context)
    return instances["custom_scalars"]


def charts(plugins) -> dict:
    """The layout TensorBoard serves (``/layout``): chart title -> chart."""
    layout = json_format.Parse(plugins.layout_impl(context.RequestContext(), ""), layout_pb2.Layout())
    return {chart.title: chart for category in layout.category for chart in category.chart}


def frontend_filter(chart) -> str:
    """How TensorBoard 2.21's frontend joins a chart's tags into the one regex it sends to the plugin."""
    if chart.HasField("multiline"):
        tags = list(chart.multiline.tag)
        return tags[0] if len(tags) == 1 else "|".join(f"({tag})" for tag in tags)
    series = chart.margin.series[0]
    escaped = [re.escape(tag) for tag in (series.value, series.lower, series.upper)]
    return "|".join(f"({tag})" for tag in escaped)


def test_every_chart_draws_exactly_its_series(plugins):
    served, expected = charts(plugins), chart_series()
    assert set(served) == set(expected)
    for title, chart in served.items():
        matched = plugins.scalars_impl(context.RequestContext(), ".", frontend_filter(chart), "")["tag_to_events"]
        assert sorted(matched) == sorted(TRL_PREFIX + tag for tag in expected[title]), title


def test_the_reward_density_chart_has_its_four_series_only():
    series = chart_series()["reward density: shares of groups without GRPO signal"]
    assert series == ["medloc/zero_variance_share", "medloc/starved_share", "medloc/hit_rate", "reward"]


def test_tau_is_drawn_unsmoothed_in_a_margin_chart(plugins):
    series = charts(plugins)["tau, unsmoothed"].margin.series[0]  # TensorBoard never smooths margin charts
    assert series.value == series.lower == series.upper == "train/medloc/threshold"
    events = plugins.scalars_impl(context.RequestContext(), ".", "^train/medloc/threshold$", "")["tag_to_events"]
    assert [round(value, 2) for _, _, value in events["train/medloc/threshold"]] == [0.3, 0.3, 0.45, 0.45, 0.55]


def test_a_grade_curriculum_charts_its_own_score():
    assert chart_series("grade_closeness")["window statistics"][-1] == "medloc/mean_grade_closeness"
    assert "mean grade closeness over tau, unsmoothed (band: the margin)" in chart_series("grade_closeness")
