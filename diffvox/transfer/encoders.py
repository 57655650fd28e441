"""Audio embeddings for style transfer: differentiable, batched torch modules on any device.

An :class:`Encoder` maps stereo audio (B, 2, T) to two L2-normalised embeddings, one of the mid
and one of the side channel, each (B, D). The two encoders here are the authors' "mfcc" and
"mir" feature sets (WASPAA 2025, arXiv 2505.11315); any module with the same interface can be
passed to :func:`diffvox.transfer.transfer` (e.g. a trained network such as AFx-Rep, whose
weights we do not have).

Each frame-wise feature row (B, 2, F, frames) is reduced over time to its mean, standard
deviation, skewness and excess kurtosis (population moments), flattened feature-major to
(B, 2, 4F) and L2-normalised per channel.
"""
from __future__ import annotations

import math

import torch
from torch import nn

SR = 44100
EPS = 1e-8  # the floor inside the logs and divisions of the features (as the authors' features)


def mid_side(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, T) left/right -> (B, 2, T) mid, side: the orthonormal Hadamard transform
    ((L + R) / sqrt 2, (L - R) / sqrt 2)."""
    if x.dim() != 3 or x.shape[1] != 2:
        raise ValueError(f"the encoders take stereo audio (B, 2, T), got shape {tuple(x.shape)}")
    left, right = x[:, 0], x[:, 1]
    return torch.stack([left + right, left - right], 1) * (1 / math.sqrt(2))


def frames(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(..., T) -> (..., n_frames, n_fft) without centring or padding: frame k holds samples
    k hop .. k hop + n_fft - 1, n_frames = 1 + (T - n_fft) // hop."""
    if x.shape[-1] < n_fft:
        raise ValueError(f"a signal of {x.shape[-1]} samples is shorter than one frame ({n_fft})")
    return x.unfold(-1, n_fft, hop)


def spectrum(x: torch.Tensor, n_fft: int, hop: int, power: float) -> torch.Tensor:
    """(..., T) -> (..., n_fft // 2 + 1, frames): |STFT|^power with a periodic Hann window, no
    centring, no normalisation (torchaudio's ``Spectrogram`` with ``center=False``)."""
    window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.fft.rfft(frames(x, n_fft, hop) * window, dim=-1).abs()
    return (spec if power == 1 else spec.pow(power)).transpose(-1, -2)


def hz_to_mel_htk(f):
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz_htk(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sr: int = SR, f_min: float = 0.0,
                   f_max: float | None = None, dtype=torch.float64) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters on the HTK mel scale, unnormalised (peak 1), their
    corners equally spaced in mel from f_min to f_max (default sr // 2) and the FFT bins at
    linspace(0, sr // 2, n_freqs) Hz (torchaudio's ``melscale_fbanks`` with ``norm=None``)."""
    f_max = float(sr // 2) if f_max is None else f_max
    bins = torch.linspace(0, sr // 2, n_freqs, dtype=dtype)
    corners = mel_to_hz_htk(torch.linspace(float(hz_to_mel_htk(torch.tensor(f_min, dtype=dtype))),
                                           float(hz_to_mel_htk(torch.tensor(f_max, dtype=dtype))),
                                           n_mels + 2, dtype=dtype))
    lo, mid, hi = corners[:-2], corners[1:-1], corners[2:]
    rising = (bins[:, None] - lo) / (mid - lo)
    falling = (hi - bins[:, None]) / (hi - mid)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def dct_ii_ortho(n_in: int, n_out: int, dtype=torch.float64) -> torch.Tensor:
    """(n_in, n_out): x @ D gives the first n_out coefficients of the orthonormal DCT-II of x."""
    n = torch.arange(n_in, dtype=dtype)
    k = torch.arange(n_out, dtype=dtype)
    d = torch.cos(math.pi / n_in * (n[:, None] + 0.5) * k[None]) * math.sqrt(2.0 / n_in)
    d[:, 0] *= 1 / math.sqrt(2.0)
    return d


def moments(x: torch.Tensor) -> torch.Tensor:
    """(..., F, frames) -> (..., 4 F): per feature, mean, std, skewness, excess kurtosis over
    time (population moments; the std is floored at 1e-8 inside the z-scores), feature-major."""
    mu = x.mean(-1, keepdim=True)
    diff = x - mu
    std = diff.square().mean(-1, keepdim=True).sqrt()
    z = diff / std.clamp_min(EPS)
    skew = z.pow(3).mean(-1, keepdim=True)
    kurt = z.pow(4).mean(-1, keepdim=True) - 3
    return torch.cat([mu, std, skew, kurt], -1).flatten(-2)


class Encoder(nn.Module):
    """Stereo (B, 2, T) -> (mid (B, D), side (B, D)), each row of unit length.

    Subclasses implement :meth:`features`: (B, 2, T) mid/side -> (B, 2, D) unnormalised."""

    name = "encoder"
    min_samples = 2048

    def features(self, ms: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = nn.functional.normalize(self.features(mid_side(x)), p=2, dim=-1)
        return emb[:, 0], emb[:, 1]


class MFCC(Encoder):
    """25 MFCCs per frame (n_fft 2048, hop 1024, 128 HTK mel bands, power spectrum, no centring),
    in dB as 10 log10(max(power, 1e-10)) floored at 80 dB below the maximum over both channels,
    all bands and frames of each item (torchaudio's ``amplitude_to_DB`` with top_db 80 on a
    (B, 2, mels, frames) input), then the orthonormal DCT-II; then :func:`moments`: 100 dims."""

    name = "mfcc"

    def __init__(self, sr: int = SR, n_mfcc: int = 25, n_fft: int = 2048, hop: int = 1024,
                 n_mels: int = 128, top_db: float = 80.0):
        super().__init__()
        self.n_fft, self.hop, self.top_db, self.min_samples = n_fft, hop, top_db, n_fft
        self.register_buffer("fbank", mel_filterbank(n_fft // 2 + 1, n_mels, sr))  # float64, cast on use
        self.register_buffer("dct", dct_ii_ortho(n_mels, n_mfcc))

    def features(self, ms: torch.Tensor) -> torch.Tensor:
        power = spectrum(ms, self.n_fft, self.hop, 2.0)  # (B, 2, freqs, frames)
        mel = torch.einsum("bcft,fm->bcmt", power, self.fbank.to(power.dtype))
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        floor = db.amax(dim=(-3, -2, -1), keepdim=True) - self.top_db
        db = torch.maximum(db, floor)
        mfcc = torch.einsum("bcmt,mk->bckt", db, self.dct.to(db.dtype))
        return moments(mfcc)


class MIR(Encoder):
    """Six frame-wise descriptors (frames of 2048, hop 1024, no centring), then :func:`moments`
    (24 dims). From the waveform frame x (no window): log RMS log(sqrt(mean x^2) + eps), log
    crest factor log(max|x| + eps) - log RMS, log spread mean(log(|x| + eps)) - log RMS. From the
    Hann-windowed magnitude spectrum S_k over normalised frequencies f_k = k / (K - 1) in [0, 1]:
    log centroid log(c + eps) with c = sum_k f_k S_k / max(sum S, eps), log bandwidth
    0.5 log(sum_k p_k (f_k - c)^2 + eps) with p = S / max(sum S, eps), log flatness
    mean_k log P_k - log mean_k P_k of the power P = max(S, eps)^2."""

    name = "mir"

    def __init__(self, n_fft: int = 2048, hop: int = 1024):
        super().__init__()
        self.n_fft, self.hop, self.min_samples = n_fft, hop, n_fft

    def features(self, ms: torch.Tensor) -> torch.Tensor:
        frame = frames(ms, self.n_fft, self.hop)  # (B, 2, frames, n_fft)
        log_rms = torch.log(frame.square().mean(-1).sqrt() + EPS)
        log_crest = torch.log(frame.abs().amax(-1) + EPS) - log_rms
        log_spread = torch.log(frame.abs() + EPS).mean(-1) - log_rms
        mag = spectrum(ms, self.n_fft, self.hop, 1.0)  # (B, 2, K, frames)
        freqs = torch.linspace(0, 1, mag.shape[-2], dtype=mag.dtype, device=mag.device)
        p = mag / mag.sum(-2, keepdim=True).clamp_min(EPS)
        centroid = torch.einsum("bckt,k->bct", p, freqs)
        log_centroid = torch.log(centroid + EPS)
        spread2 = (p * (freqs[:, None] - (centroid + EPS)[..., None, :]).square()).sum(-2)
        log_bandwidth = 0.5 * torch.log(spread2 + EPS)
        power = mag.clamp_min(EPS).square()
        log_flatness = power.log().mean(-2) - power.mean(-2).log()
        feats = torch.stack([log_rms, log_crest, log_spread, log_centroid, log_bandwidth,
                             log_flatness], -2)  # (B, 2, 6, frames)
        return moments(feats)


ENCODERS = {"mfcc": MFCC, "mir": MIR}


def get_encoder(encoder: str | Encoder) -> nn.Module:
    """An encoder by name ("mfcc", "mir") or the module itself (any module mapping (B, 2, T) to a
    (mid, side) pair of unit-length (B, D) embeddings)."""
    if isinstance(encoder, nn.Module):
        return encoder
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)} "
                         "or an Encoder module")
    return ENCODERS[encoder]()
