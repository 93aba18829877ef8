"""benchmarks.turned_clip: turning estimated poses about the person (the diagnostic's one computation)."""

from __future__ import annotations

import numpy as np

from benchmarks.turned_clip import turn


def test_turn_is_clockwise_on_screen_about_the_present_joints_and_keeps_missing_ones():
    kp = np.array([[[[10.0, 0.0], [-10.0, 0.0], [0.0, 0.0]]]], np.float32)  # (M=1, T=1, V=3, 2)
    sc = np.array([[[1.0, 1.0, 0.0]]], np.float32)  # the third joint is missing
    out = turn(kp, sc, 90.0)
    # centre (0, 0); y points down: a quarter turn clockwise takes the joint on the right below the centre
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 10.0], atol=1e-5)
    np.testing.assert_allclose(out[0, 0, 1], [0.0, -10.0], atol=1e-5)
    assert out[0, 0, 2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(turn(turn(kp, sc, 30.0), sc, -30.0)[sc > 0], kp[sc > 0], atol=1e-4)
