"""Audio decoding and the official mel feature, on real files."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DEMO_PIECE, GOLDEN_AUDIO, write_tone
from core.audio.decode import load_audio
from core.errors import ConductorError
from core.audio.mel import frame_count_30fps, frame_count_90hz, mel_90hz


def test_mel_matches_golden_from_golden_flac(golden):
    mel = mel_90hz(load_audio(GOLDEN_AUDIO))
    assert mel.shape == golden["mel"].shape == (3600, 128)
    assert mel.dtype == np.float32
    assert np.abs(mel - golden["mel"]).max() < 1e-4


def test_mel_filterbank_equals_librosa():
    librosa = pytest.importorskip("librosa")
    from core.audio.mel import mel_filterbank

    reference = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128)
    assert np.abs(mel_filterbank() - reference).max() < 1e-6


@pytest.mark.parametrize("suffix,fmt", [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG"), (".mp3", "MP3")])
def test_formats_decode_to_mono_22k(tmp_path, suffix, fmt):
    path = write_tone(tmp_path / f"tone{suffix}", duration_s=2.0, rate_hz=44_100, channels=2, fmt=fmt)
    samples = load_audio(path)
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert abs(samples.shape[0] - 2 * 22_050) < 2_500  # mp3 adds encoder padding
    assert 0.05 < np.abs(samples).max() < 1.0


@pytest.mark.parametrize("rate_hz", [8_000, 16_000, 48_000, 96_000, 192_000])
def test_any_rate_is_resampled_like_librosa(tmp_path, rate_hz):
    librosa = pytest.importorskip("librosa")
    path = write_tone(tmp_path / "tone.wav", duration_s=1.5, rate_hz=rate_hz, channels=3)
    ours = load_audio(path)
    reference, _ = librosa.load(str(path))  # librosa's defaults: 22,050 Hz mono, soxr_hq
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-5


def test_channel_mean_is_the_mono_mix(tmp_path):
    import soundfile

    left = np.full(22_050, 0.5, dtype=np.float32)
    soundfile.write(str(tmp_path / "two.wav"), np.stack([left, -left * 0.2], 1), 22_050, subtype="FLOAT")
    assert np.allclose(load_audio(tmp_path / "two.wav"), 0.2)


def test_silence_gives_finite_mel(tmp_path):
    import soundfile

    soundfile.write(str(tmp_path / "silence.wav"), np.zeros(3 * 22_050, np.float32), 22_050)
    mel = mel_90hz(load_audio(tmp_path / "silence.wav"))
    assert mel.shape == (270, 128)
    assert np.all(np.isfinite(mel))


def test_long_audio_mel_is_blockwise_consistent():
    """Blocked STFT: a signal longer than one block equals the per-sample definition."""
    librosa = pytest.importorskip("librosa")
    from core.audio.mel import mel_power

    rng = np.random.default_rng(0)
    samples = rng.standard_normal(256 * 9000).astype(np.float32) * 0.1
    ours = mel_power(samples)
    reference = librosa.feature.melspectrogram(y=samples, sr=22050, n_mels=128, hop_length=256, pad_mode="constant")
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() / reference.max() < 1e-5


def test_frame_counts():
    assert frame_count_90hz(882_000) == 3600
    assert frame_count_30fps(3600) == 1200
    assert frame_count_30fps(3601) == 1201
    assert frame_count_30fps(1) == 1


def test_demo_piece_is_bundled_and_decodes():
    assert DEMO_PIECE.is_file(), "the demo piece ships in core/assets"
    samples = load_audio(DEMO_PIECE)
    assert 20 * 22_050 < samples.shape[0] < 60 * 22_050


def written(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda d: d / "missing.wav", "does not exist"),
        (lambda d: d, "is a folder"),
        (lambda d: written(d / "empty.mp3", b""), "is empty"),
        (lambda d: written(d / "notes.mp3", b"these are my notes, not music\n" * 50), "could not be decoded"),
    ],
    ids=["missing", "directory", "empty", "text-named-mp3"],
)
def test_bad_audio_gives_one_clear_sentence(tmp_path, make, phrase):
    with pytest.raises(ConductorError) as caught:
        load_audio(make(tmp_path))
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message and message.endswith(".")


def test_truncated_mp3_is_refused(tmp_path):
    path = write_tone(tmp_path / "full.mp3", duration_s=6.0, rate_hz=44_100, fmt="MP3")
    data = path.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ConductorError, match="truncated|could not be decoded"):
        load_audio(cut)


def test_a_cut_flac_is_refused_even_where_ffmpeg_decodes_what_is_left(tmp_path):
    """libsndfile stops at a cut FLAC ("lost sync"); ffmpeg then decodes the part that is there
    and succeeds, so its length is checked against the header's (it had been 12 s of 40, silently)."""
    import shutil

    path = write_tone(tmp_path / "full.flac", duration_s=20.0, rate_hz=44_100, fmt="FLAC")
    data = path.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 3])
    expected = "is truncated: its header promises 20.0 s" if shutil.which("ffmpeg") else "could not be decoded"
    with pytest.raises(ConductorError, match=expected) as caught:
        load_audio(cut)
    assert "Error" not in str(caught.value) and str(tmp_path) not in str(caught.value)


@pytest.mark.parametrize("suffix, codec", [(".m4a", "aac"), (".opus", "libopus")])
def test_ffmpeg_formats_decode_when_ffmpeg_is_installed(tmp_path, suffix, codec):
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (make test installs it with apt)")
    source = write_tone(tmp_path / "tone.wav", duration_s=2.0, rate_hz=48_000, channels=2)
    encoded = tmp_path / f"tone{suffix}"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(source), "-c:a", codec, str(encoded)], check=True)
    samples = load_audio(encoded)
    assert abs(samples.shape[0] - 2 * 22_050) < 3_000
    assert 0.05 < np.abs(samples).max() < 1.0
