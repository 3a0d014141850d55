"""flowerkit.teams.extrapolation: per-image costs measured here, scaled to a whole run on the real photos (notebook 04)."""

from __future__ import annotations

import pytest

from flowerkit import teams


def test_extrapolation_scales_measured_costs(mini_root):
    ext = teams.extrapolate(mini_root, size=32, images=100, epochs=2, files=2)
    assert ext.theirs_decode_ms > 0 and ext.step_ms > 0
    assert ext.theirs_hours == pytest.approx(2 * 100 * (ext.theirs_decode_ms + ext.step_ms) / 3.6e6)
    assert "hours" in str(ext)
