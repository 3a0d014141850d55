"""flowerkit.teams.extrapolation: per-image costs measured here, scaled to a whole run on the real photos (notebook 04)."""

from __future__ import annotations

import pytest

from flowerkit import teams
from flowerkit.teams import extrapolation


def test_extrapolation_scales_measured_costs(mini_root):
    ext = teams.extrapolate(mini_root, size=32, images=100, epochs=2, files=2)
    assert ext.theirs_decode_ms > 0 and ext.step_ms > 0
    assert ext.theirs_hours == pytest.approx(2 * 100 * (ext.theirs_decode_ms + ext.step_ms) / 3.6e6)
    assert ext.ours_epoch_ms > 0, "our per-batch conversion is paid every epoch too"
    per_epoch = ext.ours_epoch_ms + ext.step_ms
    assert ext.ours_hours == pytest.approx((100 * ext.ours_decode_ms + 2 * 100 * per_epoch) / 3.6e6)
    assert "conversion (per batch)" in str(ext) and "full decode and conversion" in str(ext)
    assert "minutes" in str(ext)  # 200 images take seconds: said in minutes, never "0.0 hours"


@pytest.mark.parametrize("hours, said", [(0.4, "24 minutes"), (1.99, "119 minutes"), (2.0, "2.0 hours"), (3.24, "3.2 hours")])
def test_a_duration_is_said_in_minutes_under_two_hours(hours, said):
    assert extrapolation._duration(hours) == said
