"""Running filters over time series, in NumPy alone, so the default path needs no SciPy.

Each filter slides along one axis of an array whose other axes are channels, and treats the
edges as ``scipy.ndimage`` does (the tests hold them equal to it): "nearest" repeats the edge
sample, "reflect" mirrors the signal about its edge (d c b a | a b c d | d c b a). A filter of
``width`` samples centred on sample ``i`` covers ``i - width // 2 + shift`` onwards, where
``shift`` moves it (``origin`` in SciPy: a negative one looks ahead).

Every filter takes ``values`` [shape=(..., n, ...)] (any rate, any unit) and returns the same
shape, in the same unit and at the same rate: widths and sigmas are counted in samples along
``axis``, so a caller turns seconds into samples with its own rate.
"""

from __future__ import annotations

import numpy as np

_PAD_MODE = {"nearest": "edge", "reflect": "symmetric"}


def _windows(values: np.ndarray, width: int, *, axis: int, mode: str, origin: int) -> np.ndarray:
    """Every window of ``width`` samples along ``axis``, one per sample: shape (..., width)."""
    width = max(1, int(width))
    before = width // 2 + int(origin)
    after = width - 1 - before
    if before < 0 or after < 0:
        raise ValueError(f"origin {origin} puts the window of {width} samples off its centre sample")
    moved = np.moveaxis(np.asarray(values), axis, -1)
    padded = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(before, after)], mode=_PAD_MODE[mode])  # type: ignore[call-overload]
    return np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)


def _reduce(values: np.ndarray, width: int, reducer, *, axis: int, mode: str, origin: int) -> np.ndarray:
    reduced = reducer(_windows(values, width, axis=axis, mode=mode, origin=origin), axis=-1)
    return np.moveaxis(reduced, -1, axis)


def running_mean(values: np.ndarray, width: int, *, axis: int = -1, mode: str = "nearest") -> np.ndarray:
    """Mean over ``width`` samples around each sample (``ndimage.uniform_filter1d``).

    Returns
    -------
    np.ndarray [shape=values.shape, float64]
    """
    moved = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    width = max(1, int(width))
    before = width // 2
    padded = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(before, width - 1 - before)], mode=_PAD_MODE[mode])  # type: ignore[call-overload]
    sums = np.cumsum(np.concatenate([np.zeros(padded.shape[:-1] + (1,)), padded], axis=-1), axis=-1)
    return np.moveaxis((sums[..., width:] - sums[..., :-width]) / width, -1, axis)


def running_min(
    values: np.ndarray, width: int, *, axis: int = -1, mode: str = "reflect", origin: int = 0
) -> np.ndarray:
    """Minimum over ``width`` samples (``ndimage.minimum_filter1d``).

    Returns
    -------
    np.ndarray [shape=values.shape], the dtype of ``values``
    """
    return _reduce(values, width, np.min, axis=axis, mode=mode, origin=origin)


def running_max(
    values: np.ndarray, width: int, *, axis: int = -1, mode: str = "reflect", origin: int = 0
) -> np.ndarray:
    """Maximum over ``width`` samples (``ndimage.maximum_filter1d``).

    Returns
    -------
    np.ndarray [shape=values.shape], the dtype of ``values``
    """
    return _reduce(values, width, np.max, axis=axis, mode=mode, origin=origin)


def running_median(values: np.ndarray, width: int, *, axis: int = -1, mode: str = "nearest") -> np.ndarray:
    """Median over ``width`` samples (``ndimage.median_filter`` along one axis: for an even
    width, the upper of the two middle values).

    Returns
    -------
    np.ndarray [shape=values.shape], the dtype of ``values``
    """
    width = max(1, int(width))
    middle = np.sort(_windows(values, width, axis=axis, mode=mode, origin=0), axis=-1)[..., width // 2]
    return np.moveaxis(middle, -1, axis)


def gaussian_smooth(values: np.ndarray, sigma: float, *, axis: int = -1, mode: str = "nearest") -> np.ndarray:
    """Gaussian smoothing with standard deviation ``sigma`` samples, the kernel cut at 4 sigma
    (``ndimage.gaussian_filter1d``).

    Returns
    -------
    np.ndarray [shape=values.shape, float64]
    """
    radius = int(4.0 * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / float(sigma)) ** 2)
    kernel /= kernel.sum()
    windows = _windows(np.asarray(values, dtype=np.float64), 2 * radius + 1, axis=axis, mode=mode, origin=0)
    return np.moveaxis(windows @ kernel, -1, axis)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask`` [shape=(n,), bool], in order, as sample
    indices (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def local_maxima(values: np.ndarray) -> np.ndarray:
    """Indices of the samples strictly greater than both neighbours (``signal.argrelmax``).

    Parameters
    ----------
    values : np.ndarray [shape=(n,)]

    Returns
    -------
    np.ndarray [shape=(P,), int64] sample indices, increasing
    """
    values = np.asarray(values)
    inner = (values[1:-1] > values[:-2]) & (values[1:-1] > values[2:])
    return np.flatnonzero(inner) + 1
