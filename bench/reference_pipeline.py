"""The reference pipeline that bench/lengths.py measures our paths against, run as its own process.

It follows what the official VirtualConductor code does (docs/parity.md): librosa decodes the
file and computes the mel spectrogram, normalised and resized to 90 frames a second, then the
plain generator (no fused batch norms) runs on 60-s windows without overlap, with fresh noise
for each. It is a yardstick, not a product path: it writes the keypoints to an .npy.

    python bench/reference_pipeline.py MUSIC WEIGHTS OUT.npy
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW_S = 60
MIN_LAST_WINDOW_S = 5


def main() -> None:
    music, weights, output = sys.argv[1:4]
    import librosa
    import numpy as np
    import torch

    from core.audio.mel import resize_time_bilinear
    from core.neural.weights import GENERATOR, load_model

    samples, rate_hz = librosa.load(music)  # 22,050 Hz mono, librosa's defaults
    power = librosa.feature.melspectrogram(y=samples, sr=rate_hz, n_mels=128, hop_length=256)
    db = librosa.power_to_db(power, ref=np.max)
    mel = resize_time_bilinear((np.abs(db + 80.0) / 80.0)[::-1].astype(np.float32), int(len(samples) / rate_hz * 90)).T
    generator = load_model(weights, GENERATOR).model.eval()
    seconds = mel.shape[0] // 90
    keypoints = np.zeros((seconds * 30, 13, 2), dtype=np.float32)
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        for start in range(0, seconds, WINDOW_S):
            length = min(WINDOW_S, seconds - start)
            if length < MIN_LAST_WINDOW_S:
                break  # the official code leaves a short last window as zeros
            window = torch.from_numpy(np.ascontiguousarray(mel[start * 90 : (start + length) * 90]))[None]
            noise = torch.from_numpy(rng.standard_normal((1, length, 8)).astype(np.float32))
            keypoints[start * 30 : (start + length) * 30] = generator(window, noise)[0].numpy()
    np.save(output, keypoints)


if __name__ == "__main__":
    main()
