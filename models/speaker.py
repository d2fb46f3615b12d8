"""Speaker embeddings in numpy from Resemblyzer's pretrained voice encoder.

The weights ship inside the ``resemblyzer`` PyPI package (``pretrained.pt``,
installed with ``pip install --no-deps resemblyzer==0.1.4`` so torch is never
needed); they are read with :mod:`models.torchfile`, and neither resemblyzer
nor torch is imported.  The front end and network follow Resemblyzer:
16 kHz audio, a 40-band mel power spectrogram (not log) from 25 ms Hann windows
every 10 ms (librosa's Slaney mel scale and area norm, centred frames), a
3-layer LSTM with 256 units whose last hidden state goes through a 256x256
linear layer, ReLU and L2 normalisation.  An utterance is cut into partials of
160 frames (1.6 s); its embedding is the L2-normalised mean of theirs.
Embeddings are non-negative unit vectors: the cosine similarity of two is
their dot product.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .registry import ModelError
from .torchfile import CheckpointError, load_tensors

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_SAMPLES = PARTIAL_FRAMES * HOP
EMBED_DIM = 256
NORM_TARGET_DBFS = -30.0
PACKAGE = "resemblyzer"
INSTALL = "pip install --no-deps resemblyzer==0.1.4"


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filters(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """Triangular filters (n_mels, n_fft//2 + 1), Slaney area-normalised, as librosa."""
    fft_hz = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
_MEL = mel_filters()


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram of 16 kHz float audio, one frame per 10 ms.

    Frames are centred (zero padding of half a window at both ends), so a wav
    of n samples gives ``1 + n // 160`` frames.
    """
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, N_FFT // 2)
    n_frames = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, (n_frames, N_FFT), (padded.strides[0] * HOP, padded.strides[0]), writeable=False
    )
    spec = np.fft.rfft(frames * _WINDOW, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return power @ _MEL.T


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_TARGET_DBFS) -> np.ndarray:
    """Raise (never lower) the level to ``target_dbfs`` RMS, as Resemblyzer's preprocessing."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= 1e-9:
        return wav
    change_db = target_dbfs - 20 * np.log10(rms)
    return wav if change_db < 0 else (wav * 10 ** (change_db / 20)).astype(np.float32)


def partial_starts(n_samples: int, rate_hz: float = 1.3, min_coverage: float = 0.75) -> list[int]:
    """Start frames of Resemblyzer's partials for an utterance (``compute_partial_slices``)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SAMPLE_RATE / rate_hz) / HOP))
    if not 0 < step <= PARTIAL_FRAMES:
        raise ValueError(f"partial rate {rate_hz} Hz out of range")
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / PARTIAL_SAMPLES
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


class SpeakerEncoder:
    """Resemblyzer's voice encoder as numpy: audio windows in, 256-d unit embeddings out."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        try:
            raw = [
                (
                    state[f"lstm.weight_ih_l{n}"],
                    state[f"lstm.weight_hh_l{n}"],
                    state[f"lstm.bias_ih_l{n}"] + state[f"lstm.bias_hh_l{n}"],
                )
                for n in range(3)
            ]
            self._linear_w = np.ascontiguousarray(state["linear.weight"].T)
            self._linear_b = state["linear.bias"]
        except KeyError as err:
            raise ModelError(f"speaker encoder weights lack {err}") from err
        hd = raw[0][1].shape[1]
        if raw[0][0].shape != (4 * hd, N_MELS) or self._linear_w.shape != (hd, EMBED_DIM):
            raise ModelError("speaker encoder weights have unexpected shapes")
        self.hidden = hd
        # torch orders the gates i, f, g, o; reorder to i, f, o, g so the three sigmoid
        # gates are one slice, and halve their rows: sigmoid(x) = 0.5 + 0.5 tanh(x / 2)
        order = np.r_[0 : 2 * hd, 3 * hd : 4 * hd, 2 * hd : 3 * hd]
        scale = np.r_[np.full(3 * hd, 0.5), np.ones(hd)].astype(np.float32)
        self._layers = [
            (
                np.ascontiguousarray((w_ih[order] * scale[:, None]).T),
                np.ascontiguousarray((w_hh[order] * scale[:, None]).T),
                (b[order] * scale).astype(np.float32),
            )
            for w_ih, w_hh, b in raw
        ]

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel spectrograms -> (batch, 256) unit embeddings."""
        x = np.asarray(mels, dtype=np.float32)
        batch, steps, _ = x.shape
        hd = self.hidden
        h = np.zeros((batch, hd), dtype=np.float32)
        z = np.empty((batch, 4 * hd), dtype=np.float32)
        tc = np.empty((batch, hd), dtype=np.float32)
        for n, (w_ih, w_hh, bias) in enumerate(self._layers):
            gates_in = x @ w_ih + bias  # (batch, steps, 4h), pre-scaled
            last = n == len(self._layers) - 1
            out = None if last else np.empty((batch, steps, hd), dtype=np.float32)
            h = np.zeros((batch, hd), dtype=np.float32)
            c = np.zeros((batch, hd), dtype=np.float32)
            for t in range(steps):
                np.matmul(h, w_hh, out=z)
                z += gates_in[:, t]
                np.tanh(z, out=z)
                sig = z[:, : 3 * hd]
                sig *= 0.5
                sig += 0.5  # i, f, o
                c *= z[:, hd : 2 * hd]
                np.multiply(z[:, :hd], z[:, 3 * hd :], out=tc)
                c += tc
                np.tanh(c, out=tc)
                h = out[:, t] if out is not None else h
                np.multiply(z[:, 2 * hd : 3 * hd], tc, out=h)
            if out is not None:
                x = out
        raw = np.maximum(h @ self._linear_w + self._linear_b, 0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norm, 1e-12)

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """(batch, samples) equal-length 16 kHz windows -> (batch, 256), each level-normalised."""
        windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        mels = np.stack([mel_spectrogram(normalize_volume(w)) for w in windows])
        return self.forward(mels)

    def embed_utterance(self, wav: np.ndarray, rate_hz: float = 1.3) -> np.ndarray:
        """One 256-d embedding of a whole 16 kHz utterance, as ``VoiceEncoder.embed_utterance``.

        The wav is used as given (no level change, no silence trimming).
        """
        wav = np.asarray(wav, dtype=np.float32)
        starts = partial_starts(wav.size, rate_hz)
        need = (starts[-1] + PARTIAL_FRAMES) * HOP
        if need >= wav.size:
            wav = np.pad(wav, (0, need - wav.size))
        mel = mel_spectrogram(wav)
        partials = self.forward(np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts]))
        mean = partials.mean(axis=0)
        return mean / np.linalg.norm(mean)


def weights_path() -> Path:
    """``pretrained.pt`` of the installed resemblyzer package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"speaker encoder not installed: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise ModelError(f"{path} missing: reinstall with {INSTALL}")
    return path


def load_encoder(path: str | Path | None = None) -> SpeakerEncoder:
    """The pretrained encoder from ``path`` or the installed resemblyzer package."""
    path = Path(path) if path is not None else weights_path()
    try:
        return SpeakerEncoder(load_tensors(path, "model_state"))
    except CheckpointError as err:
        raise ModelError(str(err)) from err
