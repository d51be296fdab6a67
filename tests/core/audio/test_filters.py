"""The NumPy running filters equal scipy.ndimage's (which the default path must do without)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from core.audio.filters import (
    gaussian_smooth,
    local_maxima,
    running_max,
    running_mean,
    running_median,
    running_min,
    true_runs,
)

RNG = np.random.default_rng(3)
SERIES = RNG.normal(size=(157, 4))


@pytest.mark.parametrize("width", [1, 2, 5, 9, 32])
def test_running_mean_equals_uniform_filter(width: int) -> None:
    np.testing.assert_allclose(
        running_mean(SERIES, width, axis=0), ndimage.uniform_filter1d(SERIES, width, axis=0, mode="nearest"), atol=1e-12
    )


@pytest.mark.parametrize("width, origin", [(1, 0), (4, 0), (7, 0), (7, -3), (6, -3), (5, 2)])
def test_running_min_and_max_equal_ndimage(width: int, origin: int) -> None:
    quiet = (RNG.random(200) > 0.3).astype(np.uint8)
    np.testing.assert_array_equal(
        running_min(quiet, width, origin=origin), ndimage.minimum_filter1d(quiet, width, origin=origin)
    )
    np.testing.assert_array_equal(
        running_max(SERIES, width, axis=0, origin=origin),
        ndimage.maximum_filter1d(SERIES, width, axis=0, origin=origin),
    )


@pytest.mark.parametrize("width", [1, 3, 5, 8])
def test_running_median_equals_median_filter(width: int) -> None:
    values = RNG.normal(size=60)
    np.testing.assert_allclose(running_median(values, width), ndimage.median_filter(values, width, mode="nearest"))


@pytest.mark.parametrize("sigma", [0.7, 3.0, 12.0])
def test_gaussian_smooth_equals_gaussian_filter(sigma: float) -> None:
    np.testing.assert_allclose(
        gaussian_smooth(SERIES, sigma, axis=0),
        ndimage.gaussian_filter1d(SERIES, sigma, axis=0, mode="nearest"),
        atol=1e-12,
    )


def test_runs_and_maxima() -> None:
    mask = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    labels, count = ndimage.label(mask)
    assert true_runs(mask) == [(s.start, s.stop) for (s,) in ndimage.find_objects(labels)] == [(1, 3), (5, 6), (7, 10)]
    assert true_runs(np.zeros(4, bool)) == []
    values = RNG.normal(size=300)
    np.testing.assert_array_equal(local_maxima(values), signal.argrelmax(values)[0])
