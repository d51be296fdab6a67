"""Batched rotation maths for retargeting: orthonormal frames, quaternions, smoothing in time.

Every function works on a leading time axis so a whole piece is one numpy expression.
Quaternions are (w, x, y, z), Hamilton convention, as Blender's ``rotation_quaternion``.
"""

from __future__ import annotations

import numpy as np


def dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products over the last axis (size 3) [shape=(...)]; faster than a size-3 reduction."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products over the last axis [shape=(..., 3)]."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def matmul3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched 3x3 matrix products ``a @ b`` [shape=(T, 3, 3)]; either side may be one
    matrix [shape=(3, 3) or (1, 3, 3)].

    numpy's matmul loops over the batch one tiny matrix at a time; a constant side becomes a
    single BLAS product and two batches are multiplied entry by entry on contiguous
    (3, 3, T) copies, several times faster for long pieces.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3 and len(a) == 1:
        a = a[0]
    if b.ndim == 3 and len(b) == 1:
        b = b[0]
    if a.ndim == 2 and b.ndim == 2:
        return (a @ b)[None]
    if b.ndim == 2:
        return (a.reshape(-1, 3) @ b.astype(a.dtype)).reshape(a.shape)
    if a.ndim == 2:  # (a @ b)^T = b^T @ a^T
        flipped = np.swapaxes(b, 1, 2).reshape(-1, 3) @ a.T.astype(b.dtype)
        return np.swapaxes(flipped.reshape(b.shape), 1, 2)
    left = np.ascontiguousarray(np.moveaxis(a, 0, -1))
    right = np.ascontiguousarray(np.moveaxis(b, 0, -1))
    out = np.empty(left.shape[:2] + (left.shape[2],), dtype=np.result_type(a, b))
    for i in range(3):
        for k in range(3):
            out[i, k] = left[i, 0] * right[0, k] + left[i, 1] * right[1, k] + left[i, 2] * right[2, k]
    return np.moveaxis(out, -1, 0)


def transpose3(a: np.ndarray) -> np.ndarray:
    """Swap the last two axes of ``a`` [shape=(..., 3, 3)] (inverse of a rotation matrix)."""
    return np.swapaxes(a, -1, -2)


def rotate3(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``matrices @ vectors`` for column vectors [shape=(..., 3)], broadcasting."""
    return (
        matrices[..., :, 0] * vectors[..., None, 0]
        + matrices[..., :, 1] * vectors[..., None, 1]
        + matrices[..., :, 2] * vectors[..., None, 2]
    )


def normalize(vectors: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors along the last axis; near-zero vectors become ``fallback`` (or stay zero).

    Parameters
    ----------
    vectors : np.ndarray [shape=(..., 3)]
    fallback : np.ndarray [shape=(3,) or (..., 3)] or None

    Returns
    -------
    np.ndarray [shape=(..., 3)]
    """
    norm = np.sqrt(dot3(vectors, vectors))[..., None]
    unit = vectors / np.maximum(norm, 1e-12)
    if fallback is not None:
        unit = np.where(norm > 1e-9, unit, np.broadcast_to(fallback, unit.shape))
    return unit


def orthonormal_frame(
    primary: np.ndarray, secondary: np.ndarray, *, dtype: np.dtype | type | None = None
) -> np.ndarray:
    """Right-handed frames whose Y axis is ``primary`` and X axis lies toward ``secondary``.

    Where ``secondary`` is (nearly) parallel to ``primary``, the world axis least aligned with
    ``primary`` stands in, so the result is always a rotation.

    Parameters
    ----------
    primary : np.ndarray [shape=(..., 3)]
        Bone directions, any non-zero length.
    secondary : np.ndarray [shape=(..., 3)]
        Hints for the X axis (a hinge or a lateral axis).
    dtype : numpy dtype or None
        Of the result (computed in float64, rounded once); that of the inputs if None.

    Returns
    -------
    np.ndarray [shape=(..., 3, 3)]
        Columns X, Y, Z.
    """
    x_axis, y_axis = _frame_xy(primary, secondary)
    z_axis = cross3(x_axis, y_axis)
    frame = np.empty(x_axis.shape + (3,), dtype=dtype or x_axis.dtype)
    frame[..., 0], frame[..., 1], frame[..., 2] = x_axis, y_axis, z_axis
    return frame


def _frame_xy(primary: np.ndarray, secondary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The X and Y axes of :func:`orthonormal_frame` [shape=(..., 3) each]."""
    y_axis = normalize(primary, np.array([0.0, 0.0, 1.0]))
    x_axis = secondary - dot3(secondary, y_axis)[..., None] * y_axis
    weak = dot3(x_axis, x_axis) < 1e-12
    if np.any(weak):
        spare = np.eye(3)[np.argmin(np.abs(y_axis[weak]), axis=-1)]
        spare -= np.sum(spare * y_axis[weak], -1, keepdims=True) * y_axis[weak]
        x_axis[weak] = spare
    return normalize(x_axis), y_axis


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """Rotation matrices to unit quaternions (w, x, y, z), w >= 0 before continuity fixes.

    Parameters
    ----------
    matrices : np.ndarray [shape=(..., 3, 3)]

    Returns
    -------
    np.ndarray [shape=(..., 4)], float32 for float32 input, else float64
    """
    m = np.asarray(matrices)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    best = np.argmax(np.stack([m00 + m11 + m22, m00, m11, m22], -1), axis=-1)
    quaternion = np.empty(m.shape[:-2] + (4,), dtype=np.result_type(m.dtype, np.float32))
    # Shepperd: of four formulas, use the one whose leading term is largest (stable there).
    for branch in range(4):
        pick = best == branch
        if not pick.any():
            continue
        r = m[pick]
        d0, d1, d2 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
        sx, sy, sz = r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]
        ax, ay, az = r[:, 2, 1] + r[:, 1, 2], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 0] + r[:, 0, 1]
        if branch == 0:
            q = np.stack([1 + d0 + d1 + d2, sx, sy, sz], -1)
        elif branch == 1:
            q = np.stack([sx, 1 + d0 - d1 - d2, az, ay], -1)
        elif branch == 2:
            q = np.stack([sy, az, 1 - d0 + d1 - d2, ax], -1)
        else:
            q = np.stack([sz, ay, ax, 1 - d0 - d1 + d2], -1)
        quaternion[pick] = q
    quaternion /= np.sqrt(np.sum(quaternion * quaternion, -1, keepdims=True))
    return quaternion * np.where(quaternion[..., :1] < 0, -1.0, 1.0).astype(quaternion.dtype)


def quaternion_to_matrix(quaternions: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) [shape=(..., 4)] to rotation matrices [shape=(..., 3, 3)]."""
    q = np.asarray(quaternions, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def continuous_quaternions(quaternions: np.ndarray) -> np.ndarray:
    """Flip signs along time so consecutive quaternions lie in the same hemisphere.

    q and -q are the same rotation, but F-Curves interpolate components, so a sign jump
    between keys would spin the bone the long way round.

    Parameters
    ----------
    quaternions : np.ndarray [shape=(T, 4)]

    Returns
    -------
    np.ndarray [shape=(T, 4)]
    """
    if len(quaternions) < 2:
        return quaternions.copy()
    flips = np.sum(quaternions[1:] * quaternions[:-1], axis=-1) < 0
    parity = np.concatenate([[0], np.cumsum(flips) % 2])
    return quaternions * np.where(parity == 1, -1.0, 1.0)[:, None]


def gaussian_smooth(signal: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian low-pass along axis 0, edges extended with the end samples.

    Parameters
    ----------
    signal : np.ndarray [shape=(T, ...)]
    sigma_frames : float >= 0
        Standard deviation in frames; below 0.05 the signal is returned unchanged.

    Returns
    -------
    np.ndarray [shape=(T, ...), float64]
    """
    signal = np.asarray(signal, dtype=np.float64)
    if sigma_frames < 0.05 or len(signal) < 2:
        return signal.copy()
    radius = max(1, int(np.ceil(3.0 * sigma_frames)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    taps /= taps.sum()
    padded = np.concatenate([np.repeat(signal[:1], radius, 0), signal, np.repeat(signal[-1:], radius, 0)])
    out = np.zeros_like(signal)
    for offset, weight in enumerate(taps):
        out += weight * padded[offset : offset + len(signal)]
    return out


def rotate_toward(vectors: np.ndarray, targets: np.ndarray, max_angle_rad: float) -> np.ndarray:
    """Turn unit ``vectors`` toward unit ``targets`` until at most ``max_angle_rad`` apart.

    Vectors already within the limit are unchanged; the result stays a unit vector in the
    plane of the two. Shapes [shape=(..., 3)].
    """
    cosine = np.clip(dot3(vectors, targets)[..., None], -1.0, 1.0)
    outside = cosine < np.cos(max_angle_rad)
    across = vectors - cosine * targets
    across = normalize(across, fallback=_frame_xy(targets, np.ones_like(targets))[0])
    limited = np.cos(max_angle_rad) * targets + np.sin(max_angle_rad) * across
    return np.where(outside, limited, vectors)
