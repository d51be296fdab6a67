"""Motion metrics shared by training and evaluation: the official RDE, SCE, MPE and SDP, and
beat alignment, Frechet distance and diversity.

Motions are keypoints shaped (N, T30, 13, 2) or (T30, 13, 2): 30 frames per second, x and y in
[0, 1]. "real" is the reference (ground truth), "fake" the generated motion. The official
definitions are summarised in ``docs/parity.md``; the numerical order (float32
PSDs averaged in float32, the rest in float64 for RDE; float32 torch for SCE) is what reproduces
the golden values and is kept here on purpose.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

# The evaluation scripts read the beat measures from here, beside the motion metrics.
from core.neural.beat_lock import BEAT_SIGMA_S as BEAT_SIGMA_S
from core.neural.beat_lock import beat_alignment as beat_alignment
from core.neural.beat_lock import ictus_times as ictus_beats  # noqa: F401 (the conductor's beat: see core/neural/beat_lock.py)
from core.audio.mel import MEL_FPS
from core.motion.keypoints import MOTION_FPS

RDE_BINS = slice(6, 26)  # Welch bins 6..25 inclusive, about 0.7 to 3.0 Hz at nperseg 256
SCE_WINDOW = 60  # frames (2 s)
SCE_STRIDE = 30  # frames (1 s)
WRISTS = (9, 10)  # left and right wrist in the COCO order of core.motion.skeleton

# Published figures (Liu et al., JCST 2022) printed beside ours.
PUBLISHED = {
    "mpe": 0.76339,
    "rde": 0.58609,
    "sce": 1.88849,
    "acc_easy": 0.733,
    "acc_hard": 0.673,
    "acc_super_hard": 0.620,
}


def as_channels(motion: np.ndarray | torch.Tensor) -> np.ndarray:
    """Keypoints (N, T, 13, 2) or (T, 13, 2) -> float32 channels (N, T, 26), joint-major."""
    array = motion.detach().cpu().numpy() if isinstance(motion, torch.Tensor) else np.asarray(motion)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[2:] != (13, 2):
        raise ValueError(f"motion must be shaped (N, T, 13, 2) or (T, 13, 2), got {array.shape}")
    return array.reshape(array.shape[0], array.shape[1], 26).astype(np.float32, copy=False)


def mean_psd(motion: np.ndarray | torch.Tensor) -> np.ndarray:
    """Welch power spectral density of every channel, averaged over channels (and clips).

    Returns
    -------
    np.ndarray [shape=(129,), float32]
        Density in (unit^2 / Hz) at 30 / 256 Hz spacing (scipy's defaults at fs = 30).
    """
    from scipy.signal import welch

    channels = as_channels(motion)  # (N, T, 26)
    series = channels.transpose(0, 2, 1).reshape(-1, channels.shape[1])  # (N * 26, T) float32
    _, psd = welch(series, fs=MOTION_FPS, axis=-1)  # (N * 26, 129) float32
    return psd.mean(axis=0, dtype=np.float32)


def rde(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Rhythm density error: ln(1e7 * mean over bins 6..25 of (PSD_real - PSD_fake)^2 + 1).

    PSDs in float32 as :func:`mean_psd`; the difference and the mean in float64.
    """
    difference = mean_psd(real)[RDE_BINS].astype(np.float64) - mean_psd(fake)[RDE_BINS].astype(np.float64)
    return float(np.log(1e7 * np.mean(difference**2) + 1.0))


def sce_curve(motion: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The strength-contour of SCE: |channel mean of the frame difference|, averaged over 2-s
    windows every second.

    Returns
    -------
    torch.Tensor [shape=(N, 1, K), float32], K = (T - 60) // 30 + 1
    """
    x = torch.from_numpy(np.ascontiguousarray(as_channels(motion)))  # (N, T, 26)
    d = torch.zeros_like(x)
    d[:, 1:] = x[:, :-1] - x[:, 1:]  # d[t] = x[t-1] - x[t]
    contour = d.mean(dim=2).abs().unsqueeze(1)  # (N, 1, T)
    return F.avg_pool1d(contour, SCE_WINDOW, stride=SCE_STRIDE)


def sce(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Strength contour error: ln(1e7 * MSE(contour_real, contour_fake) + 1), float32 torch."""
    mse = F.mse_loss(sce_curve(fake), sce_curve(real))
    return float(torch.log(1e7 * mse + 1))


def sdp(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Standard deviation proportion: mean over channels (and clips) of the std over time of
    fake, divided by the same for real. 1 = as much movement as the reference."""
    spread_fake = as_channels(fake).astype(np.float64).std(axis=1).mean()
    spread_real = as_channels(real).astype(np.float64).std(axis=1).mean()
    return float(spread_fake / spread_real)


@torch.no_grad()
def motion_features(encoder: torch.nn.Module, motion: np.ndarray | torch.Tensor, *, batch: int = 8) -> torch.Tensor:
    """The last features of an M2S-Net motion encoder (kept in its current mode).

    Returns
    -------
    torch.Tensor [shape=(N, 64, T), float32, on the CPU]
    """
    x = motion if isinstance(motion, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(motion, dtype=np.float32))
    if x.ndim == 3:
        x = x[None]
    device = next(encoder.parameters()).device
    return torch.cat([encoder(x[i : i + batch].to(device).float()).cpu() for i in range(0, x.shape[0], batch)])


def mpe(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, encoder: torch.nn.Module) -> float:
    """Motion perceptual error: mean |features(fake) - features(real)| under ``encoder``, the
    test-split M2S-Net's motion encoder in eval mode."""
    return float(F.l1_loss(motion_features(encoder, fake), motion_features(encoder, real)))


# --------------------------------------------------------------------------- beats
def motion_beats(
    motion: np.ndarray, *, fps: float = MOTION_FPS, smooth_s: float = 0.1, min_gap_s: float = 0.25
) -> np.ndarray:
    """Kinematic beats: local minima of the wrists' speed (the moments the hands stop and turn).

    Parameters
    ----------
    motion : np.ndarray [shape=(T, 13, 2)]
        One clip of keypoints at ``fps`` frames per second.
    smooth_s : float > 0
        Standard deviation of the Gaussian that smooths the speed, in seconds.
    min_gap_s : float > 0
        Minima closer than this (in seconds) keep only the slowest.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        Beat times in seconds from the clip's start.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    wrists = np.asarray(motion, dtype=np.float64)[:, WRISTS, :]  # (T, 2, 2)
    speed = np.linalg.norm(np.diff(wrists, axis=0), axis=2).sum(axis=1) * fps  # (T - 1,) per s
    speed = gaussian_filter1d(speed, smooth_s * fps)
    minima, _ = find_peaks(
        -speed, distance=max(1, int(round(min_gap_s * fps))), prominence=0.05 * (speed.max() - speed.min() + 1e-12)
    )
    return (minima + 0.5) / fps  # speed[i] lies between frames i and i + 1


def music_beats(mel: np.ndarray, *, fps: float = MEL_FPS) -> np.ndarray:
    """Music beats from librosa's dynamic-programming beat tracker, run on an onset strength
    taken from the 90 Hz mel feature (mean positive change over bands).

    Parameters
    ----------
    mel : np.ndarray [shape=(T90, 128)]
        The official mel feature (values in [0, 1], a scaled dB).

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        Beat times in seconds.
    """
    import librosa

    db = np.asarray(mel, dtype=np.float32) * 80.0  # back to dB above the floor
    onset = np.zeros(db.shape[0], dtype=np.float32)
    onset[1:] = np.maximum(db[1:] - db[:-1], 0.0).mean(axis=1)
    _, frames = librosa.beat.beat_track(onset_envelope=onset, sr=int(fps), hop_length=1, units="frames")
    return np.asarray(frames, dtype=np.float64) / fps


def beat_f_measure(reference_s: np.ndarray, estimated_s: np.ndarray, *, window_s: float = 0.07) -> float:
    """Beat F-measure: each reference beat (seconds) matches at most one estimate within
    ``window_s`` seconds (70 ms, the usual beat-tracking tolerance). In [0, 1]; 0 when nothing matches."""
    estimated_s = np.asarray(estimated_s, dtype=np.float64)
    used: set[int] = set()
    hits = 0
    for beat in np.asarray(reference_s, dtype=np.float64):
        distance = np.abs(estimated_s - beat)
        for j in np.argsort(distance):
            if distance[j] > window_s:
                break
            if j not in used:
                used.add(int(j))
                hits += 1
                break
    if hits == 0:
        return 0.0
    precision, recall = hits / len(estimated_s), hits / len(reference_s)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- distributions
def pooled_features(features: torch.Tensor, *, window: int = MOTION_FPS) -> np.ndarray:
    """Motion-encoder features (N, 64, T) averaged over non-overlapping 1-s windows.

    Returns
    -------
    np.ndarray [shape=(N * (T // window), 64), float64]
    """
    pooled = F.avg_pool1d(features.float(), window, stride=window)  # (N, 64, K)
    return pooled.transpose(1, 2).reshape(-1, pooled.shape[1]).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of vectors (M, D) and (K, D):
    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))."""
    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))


def diversity(vectors: np.ndarray) -> float:
    """Mean Euclidean distance between all pairs of rows of ``vectors`` (M, D)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape[0] < 2:
        return math.nan
    distances = np.sqrt(np.maximum(((vectors[:, None] - vectors[None]) ** 2).sum(axis=2), 0.0))
    m = vectors.shape[0]
    return float(distances.sum() / (m * (m - 1)))
