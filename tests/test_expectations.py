"""flowerkit.expectations: the profile per dataset, the $FLOWERKIT_EPOCHS override, and expect()'s two bounds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowerkit import expectations
from flowerkit.expectations import EPOCHS_ENV, PROFILES, TARGETS, expect, profile


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EPOCHS_ENV, raising=False)


def test_each_dataset_has_its_profile_and_an_unknown_one_is_named() -> None:
    assert profile("mini") is PROFILES["mini"] and profile("real") is PROFILES["real"]
    with pytest.raises(ValueError, match=r"'imagenet'.*\['mini', 'real'\]"):
        profile("imagenet")


def test_flowerkit_epochs_replaces_the_epochs_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EPOCHS_ENV, "3")
    for name, base in PROFILES.items():
        got = profile(name)
        assert got.epochs == 3 and (got.size, got.augment) == (base.size, base.augment)
        assert EPOCHS_ENV in got.note


@pytest.mark.parametrize("value", ["0", "-2", "eight", "2.5"])
def test_a_bad_flowerkit_epochs_says_what_to_set(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(EPOCHS_ENV, value)
    with pytest.raises(ValueError, match=re.escape(f"${EPOCHS_ENV} is {value!r}") + ".*whole number"):
        profile("mini")


def test_the_mini_bound_applies_on_mini_at_the_course_epochs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    target = TARGETS["04/ours_test_acc"]
    below_mini = target.mini[1] - 0.01  # above the any-dataset bound, below mini-flowers'
    assert expect("04/ours_test_acc", below_mini, "real")
    with pytest.raises(AssertionError, match="on mini-flowers"):
        expect("04/ours_test_acc", below_mini, "mini")
    monkeypatch.setenv(EPOCHS_ENV, str(PROFILES["mini"].epochs // 2))
    assert expect("04/ours_test_acc", below_mini, "mini"), "fewer epochs than the figure was measured at: any-data bound only"
    monkeypatch.setenv(expectations.CI_ENV, "1")  # outside CI a shortened training only warns (the test below)
    with pytest.raises(AssertionError, match="on any dataset"):
        expect("04/ours_test_acc", 0.0, "mini")
    monkeypatch.setenv(EPOCHS_ENV, str(PROFILES["mini"].epochs))
    with pytest.raises(AssertionError, match="on mini-flowers"):
        expect("04/ours_test_acc", below_mini, "mini")


def test_every_target_names_a_notebook_and_a_valid_bound() -> None:
    for key, target in TARGETS.items():
        assert re.fullmatch(r"0[0-9]/[a-z0-9_]+", key), key
        for bound in (target.anywhere, target.mini):
            assert bound is None or (bound[0] in expectations._OPS and isinstance(bound[1], float | int)), key
        assert target.why, f"{key}: a failing bound must say why it should hold"


def test_a_missed_tuned_speed_warns_outside_ci_and_stops_in_ci(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A busy laptop is not a bug: outside CI a missed timing target prints a warning; CI still asserts."""
    monkeypatch.delenv(EPOCHS_ENV, raising=False)
    monkeypatch.delenv(expectations.CI_ENV, raising=False)
    assert TARGETS["03/cache_speedup"].timing and not TARGETS["04/ours_test_acc"].timing
    assert expect("03/cache_speedup", 1.2, "mini") is False  # above 1 (no bug), below the tuned 1.5x
    assert "Warning, not an error" in capsys.readouterr().out
    assert expect("03/cache_speedup", 0.9, "real") is False  # even the anywhere bound: a busy machine can slow one loop
    assert "expected > 1 on any dataset" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        expect("04/ours_test_acc", 0.5, "mini")  # accuracy is not a timing: it stops a Run All
    monkeypatch.setenv(expectations.CI_ENV, "1")
    with pytest.raises(AssertionError, match="expected >= 1.5"):
        expect("03/cache_speedup", 1.2, "mini")
    with pytest.raises(AssertionError, match="expected > 1 on any dataset"):
        expect("03/cache_speedup", 0.9, "real")


def test_an_accuracy_after_shortened_training_warns_outside_ci_and_stops_in_ci(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """An instructor's FLOWERKIT_EPOCHS=2 rehearsal on the real photos is not a bug; a bug the floor stands for is."""
    monkeypatch.delenv(expectations.CI_ENV, raising=False)
    low = expectations.CHANCE / 2  # below the floor: above chance
    monkeypatch.setenv(EPOCHS_ENV, "2")
    assert expect("05/fixed_visitor_acc", low, "real") is False
    out = capsys.readouterr().out
    assert "Warning, not an error" in out and "trains 2 epochs where the course trains 16" in out
    with pytest.raises(AssertionError):
        expect("04/access_test_acc", 0.5, "real")  # not a trained figure: the Access team's bug still stops the run
    monkeypatch.setenv(EPOCHS_ENV, str(PROFILES["real"].epochs))  # the course's own epochs: no excuse
    with pytest.raises(AssertionError, match="expected > 0.0098"):
        expect("05/fixed_visitor_acc", low, "real")
    monkeypatch.setenv(EPOCHS_ENV, "2")
    monkeypatch.setenv(expectations.CI_ENV, "1")  # CI's real route asserts what its epochs must reach
    with pytest.raises(AssertionError, match="expected > 0.0098"):
        expect("05/fixed_visitor_acc", low, "real")
    assert {k for k, t in TARGETS.items() if t.trained} >= {"04/ours_test_acc", "05/fixed_visitor_acc"}
    assert not any(t.trained and t.timing for t in TARGETS.values())


def test_an_excused_miss_is_logged_where_the_real_route_collects_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """make test-real runs its kernels without $CI: the misses they excuse land in $FLOWERKIT_EXPECT_LOG, one JSON line each."""
    log = tmp_path / "excused.jsonl"
    monkeypatch.delenv(expectations.CI_ENV, raising=False)
    monkeypatch.setenv(EPOCHS_ENV, "2")
    monkeypatch.setenv(expectations.EXPECT_LOG_ENV, str(log))
    assert expect("05/fixed_visitor_acc", expectations.CHANCE / 2, "real") is False
    assert expect("03/cache_speedup", 0.9, "real") is False
    assert expect("03/cache_speedup", 3.0, "real")  # a target met is not logged
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(m["key"], m["excuse"]) for m in lines] == [("05/fixed_visitor_acc", "trained"), ("03/cache_speedup", "timing")]
    assert (
        lines[0]["bound"].startswith("> 0.0098")
        and lines[0]["bound"].endswith("on any dataset")
        and lines[0]["value"] == pytest.approx(expectations.CHANCE / 2)
    )
    capsys.readouterr()
