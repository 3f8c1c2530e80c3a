"""Building schedules by name, and third-party schedules through entry points."""

import sys
import textwrap

import pytest

import schedulers
from schedulers import AdaptiveSchedule, build


def test_builtins_are_available():
    assert schedulers.available()[:6] == ["fixed", "linear", "cosine", "progress", "adaptive", "informative"]


def test_build_passes_options():
    schedule = build("adaptive", start=0.2, target=0.9, window=12)
    assert isinstance(schedule, AdaptiveSchedule)
    assert (schedule.threshold, schedule.target, schedule.window) == (0.2, 0.9, 12)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown schedule 'exponential'; available: fixed, linear, cosine, progress, adaptive, informative"):
        build("exponential")


def test_unknown_option_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown option\\(s\\) 'tau' for schedule 'fixed'; allowed: threshold"):
        build("fixed", tau=0.5)


def test_time_based_schedules_need_a_step_budget():
    with pytest.raises(ValueError, match="schedule 'linear' needs option\\(s\\) 'total_steps'"):
        build("linear", start=0.3, target=0.8)


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    """Install a fake distribution registering two schedules in the medloc.schedulers group."""
    (tmp_path / "my_schedules.py").write_text(
        textwrap.dedent(
            """
            from schedulers import RewardSchedule

            class StepUp(RewardSchedule):
                name = "step-up"

                def __init__(self, low=0.3, high=0.7, at=2):
                    super().__init__()
                    self.low, self.high, self.at = low, high, at

                @property
                def threshold(self):
                    return self.high if self.steps_taken >= self.at else self.low

                def step(self):
                    self.steps_taken += 1
                    return self.threshold

            class NotASchedule:
                pass
            """
        )
    )
    dist = tmp_path / "my_schedules-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-schedules\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[medloc.schedulers]\nstep-up = my_schedules:StepUp\nbroken = my_schedules:NotASchedule\n"
        "missing = no_such_module:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("my_schedules", None)


def test_entry_point_schedule_builds_by_name(plugin_on_path):
    assert "step-up" in schedulers.available()
    schedule = build("step-up", high=0.6, at=1)
    assert schedule.threshold == 0.3
    assert schedule.step() == 0.6
    assert schedule.state_dict()["schedule"] == "step-up"


def test_entry_point_that_is_not_a_schedule_is_rejected(plugin_on_path):
    with pytest.raises(ValueError, match="'broken' .* must be a subclass of schedulers.RewardSchedule"):
        build("broken")


def test_entry_point_that_fails_to_import_names_itself(plugin_on_path):
    with pytest.raises(ValueError, match="schedule 'missing' \\(entry point 'no_such_module:Thing'\\) failed to load"):
        build("missing")
