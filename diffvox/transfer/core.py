"""Style transfer by inference-time optimisation (ITO) with the preset prior, and its baselines.

The method of Yu et al., "Improving Inference-Time Optimisation for Vocal Effects Style Transfer
with a Gaussian Prior" (WASPAA 2025, arXiv 2505.11315), as we read it from the paper and the
authors' ``ito.py`` (the book's chapter "Style transfer with the preset prior" says how):

* chunks of 11 s; a chunk is active when the median over the chunk of a 50 ms max-filter of
  |mean of its channels| exceeds 1e-3 (-60 dB);
* the reference chunks are scaled to peak 1, the predictions by the same factor;
* for reference embeddings r_i and predicted embeddings p_j (unit length, per mid and side),
  theta_ij = arccos(p_j . r_i), s = sqrt(mean theta^2) from the current prediction, and
  log p(y | x) = sum over mid, side of mean_ij [-0.5 (theta_ij / s)^2 - 0.5 log 2 pi - log s];
* loss = -log p(y | x) - alpha log p(x), Adam from the prior mean; the final logits are the answer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..audio import SR
from ..chain import DiffVox
from ..presets import Preset
from .encoders import get_encoder
from .prior import PresetPrior

CHUNK_SECONDS = 11.0
ACTIVE_THRESHOLD = 1e-3  # -60 dB
ACTIVE_WINDOW_SECONDS = 0.05
# arccos has an infinite slope at +-1: cosines are clamped to [-1 + COS_MARGIN, 1 - COS_MARGIN]
# (an angle floor of sqrt(2e-7) = 4.5e-4 rad, 0.026 degrees)
COS_MARGIN = 1e-7
METHODS = ("ito", "mean", "nn-emb")


# --- chunks ------------------------------------------------------------------------------------
def split_chunks(audio: np.ndarray, size: int) -> np.ndarray:
    """(C, T) -> (N, C, size): consecutive chunks, the remainder after the last dropped."""
    audio = np.asarray(audio, np.float32)
    n = audio.shape[-1] // size
    return np.ascontiguousarray(audio[:, : n * size].reshape(audio.shape[0], n, size).transpose(1, 0, 2))


def active(chunks: np.ndarray, sr: int = SR) -> np.ndarray:
    """(N, C, L) -> (N,) bool: the median over the chunk of the 50 ms running maximum (no padding)
    of |mean over channels| exceeds 1e-3 (-60 dB)."""
    if len(chunks) == 0:
        return np.zeros(0, bool)
    level = torch.from_numpy(np.abs(np.asarray(chunks, np.float32).mean(1)))[:, None]
    running = nn.functional.max_pool1d(level, int(sr * ACTIVE_WINDOW_SECONDS), stride=1)[:, 0]
    return np.median(running.numpy(), axis=1) > ACTIVE_THRESHOLD


class TooFewChunks(ValueError):
    """Not enough active chunks for style transfer."""


def _need(kind: str, n_active: int, n_total: int, need: int, seconds: float, length: int, sr: int):
    if n_active >= need:
        return
    if n_total < need:
        raise TooFewChunks(f"the {kind} lasts {length / sr:.2f} s: style transfer needs at least {need} "
                           f"chunk{'s' if need > 1 else ''} of {seconds:g} s")
    raise TooFewChunks(f"the {kind} has {n_active} active chunk{'s' if n_active != 1 else ''} of "
                       f"{seconds:g} s out of {n_total} (a chunk is active when its median 50 ms peak "
                       f"level exceeds -60 dB); style transfer needs at least {need}")


def evaluation_chunks(dry: np.ndarray, wet: np.ndarray, seconds: float = CHUNK_SECONDS, sr: int = SR
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One song's dry (T,) and wet (2, T): the active chunks by the wet's activity (at least 2);
    the references are the even active wet chunks, the queries the odd active dry chunks, so they
    never share audio. Returns (reference (R, 2, L), query (Q, 1, L))."""
    dry = np.asarray(dry, np.float32).reshape(1, -1)
    wet = np.asarray(wet, np.float32)
    size = int(round(seconds * sr))
    n = min(dry.shape[-1], wet.shape[-1])
    d, w = split_chunks(dry[:, :n], size), split_chunks(wet[:, :n], size)
    keep = active(w, sr)
    _need("target", int(keep.sum()), len(w), 2, seconds, n, sr)
    return w[keep][::2], d[keep][1::2]


def active_chunks(audio: np.ndarray, what: str, seconds: float = CHUNK_SECONDS, sr: int = SR
                  ) -> np.ndarray:
    """Every active chunk of one file (C, T) -> (N, C, L); at least one."""
    audio = np.asarray(audio, np.float32)
    chunks = split_chunks(audio, int(round(seconds * sr)))
    keep = active(chunks, sr)
    _need(what, int(keep.sum()), len(chunks), 1, seconds, audio.shape[-1], sr)
    return chunks[keep]


# --- likelihood ----------------------------------------------------------------------------------
def angles(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(P, D), (R, D) unit rows -> (P, R) arccos of the clamped cosines."""
    return torch.arccos((pred @ ref.T).clamp(-1 + COS_MARGIN, 1 - COS_MARGIN))


def log_likelihood(pred: tuple[torch.Tensor, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor]
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """log p(y | x) summed over mid and side, and the adaptive stds (radians): per channel,
    s = sqrt(mean theta^2) over every (prediction, reference) pair, and the mean over the pairs of
    -0.5 (theta / s)^2 - 0.5 log 2 pi - log s."""
    total, stds = 0.0, []
    for p, r in zip(pred, ref):
        theta = angles(p, r)
        s = theta.square().mean().sqrt()
        total = total + (-0.5 * (theta / s).square() - 0.5 * math.log(2 * math.pi) - torch.log(s)).mean()
        stds.append(s)
    return total, stds


# --- rendering (one place: swap for the batched chain when it lands) -----------------------------
class Renderer:
    """Renders masked preset vectors (P, 130) on dry chunks (N, 1, T) -> (P, N, 2, T) through the
    frequency-sampled chain, differentiably in the vectors: the 130 values are scattered into
    (P, 151) rows in the published order (the 21 unmasked FDN-matrix logits, which do not change
    the sound, at 0), and one :class:`~diffvox.DiffVox` over P presets renders them
    (``torch.func.functional_call`` with the rows as its logits; eval mode)."""

    def __init__(self, prior: PresetPrior, device: str | torch.device = "cpu", dtype=torch.float32):
        self.device, self.dtype = torch.device(device), dtype
        self.models: dict[int, DiffVox] = {}
        self.mask = torch.as_tensor(np.flatnonzero(prior.mask), device=self.device)
        self.width = prior.layout.width
        if tuple(self._model(1).keys) != tuple(prior.layout.keys):
            raise ValueError("the prior's preset layout is not the chain's")

    def _model(self, presets: int) -> DiffVox:
        if presets not in self.models:
            self.models[presets] = DiffVox(presets=presets).to(self.device, self.dtype).eval()
        return self.models[presets]

    def rows(self, vectors: torch.Tensor) -> torch.Tensor:
        """(P, 130) -> (P, 151)."""
        return vectors.new_zeros(vectors.shape[0], self.width).index_copy(1, self.mask, vectors)

    def __call__(self, vectors: torch.Tensor, dry: torch.Tensor) -> torch.Tensor:
        vectors, dry = vectors.to(self.device, self.dtype), dry.to(self.device, self.dtype)
        model = self._model(vectors.shape[0])
        x = dry.unsqueeze(0).expand(vectors.shape[0], *dry.shape)  # (P, N, 1, T)
        return torch.func.functional_call(model, {"logits": self.rows(vectors)}, (x,))


# --- the problem ---------------------------------------------------------------------------------
@dataclass
class Problem:
    """A style-transfer problem: the query chunks (Q, 1, L), the reference embeddings, the peak
    scale, the encoder, the renderer and the prior."""

    query: torch.Tensor
    reference: tuple[torch.Tensor, torch.Tensor]
    scale: float
    encoder: nn.Module
    renderer: Renderer
    prior: PresetPrior

    @classmethod
    def make(cls, query_chunks: np.ndarray, reference_chunks: np.ndarray, encoder="mfcc",
             prior: PresetPrior | None = None, device="cpu", renderer: Renderer | None = None,
             dtype=torch.float32) -> "Problem":
        prior = prior if prior is not None else PresetPrior.internal()
        device = torch.device(device)
        encoder = get_encoder(encoder).to(device)
        ref = torch.as_tensor(np.asarray(reference_chunks), dtype=dtype, device=device)
        peak = float(ref.abs().max())
        if not peak > 0:
            raise ValueError("the reference is silent")
        scale = 1.0 / peak
        with torch.no_grad():
            ref_emb = tuple(e.detach() for e in encoder(ref * scale))
        query = torch.as_tensor(np.asarray(query_chunks), dtype=dtype, device=device)
        return cls(query, ref_emb, scale, encoder,
                   renderer if renderer is not None else Renderer(prior, device, dtype), prior)

    def embed(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self.renderer(vector[None], self.query)[0] * self.scale
        return self.encoder(pred)

    def log_likelihood(self, vector: torch.Tensor):
        return log_likelihood(self.embed(vector), self.reference)


@dataclass
class State:
    """An ITO run's state: logits, Adam's state, steps done and the history rows."""

    vector: torch.Tensor
    optimiser: dict | None = None
    step: int = 0
    history: list[dict] = field(default_factory=list)


HISTORY_COLUMNS = ("step", "loss", "log_likelihood", "log_prior", "std_mid_deg", "std_side_deg")


def ito(problem: Problem, alpha: float = 0.01, steps: int = 1000, lr: float = 0.01,
        state: State | None = None, on_step: Callable[[State], None] | None = None) -> State:
    """Adam on the masked logits from the prior mean (or ``state``, to resume) minimising
    -log p(y | x) - alpha log p(x). ``on_step(state)`` after every step (progress, checkpoints).
    A step with a non-finite loss or gradient raises (the state before it is intact)."""
    device = problem.query.device
    if state is None:
        state = State(torch.as_tensor(problem.prior.mean, dtype=problem.query.dtype, device=device))
    x = nn.Parameter(state.vector.detach().clone().to(device))
    optimiser = torch.optim.Adam([x], lr=lr)
    if state.optimiser is not None:
        optimiser.load_state_dict(state.optimiser)
    for step in range(state.step, steps):
        ll, stds = problem.log_likelihood(x)
        lp = problem.prior.log_prob(x)
        loss = -ll - alpha * lp if alpha > 0 else -ll
        optimiser.zero_grad(set_to_none=True)
        if not bool(torch.isfinite(loss)):
            raise RuntimeError(f"ITO step {step}: the loss is {float(loss)}; try a lower learning rate (--lr)")
        loss.backward()
        if not bool(torch.isfinite(x.grad).all()):
            raise RuntimeError(f"ITO step {step}: non-finite gradient; try a lower learning rate (--lr)")
        optimiser.step()
        state.vector = x.detach().clone()
        state.optimiser = optimiser.state_dict()
        state.step = step + 1
        state.history.append({"step": step, "loss": float(loss.detach()),
                              "log_likelihood": float(ll.detach()), "log_prior": float(lp.detach()),
                              "std_mid_deg": math.degrees(float(stds[0].detach())),
                              "std_side_deg": math.degrees(float(stds[1].detach()))})
        if on_step is not None:
            on_step(state)
    return state


def candidate_scores(problems: list[Problem], rows: np.ndarray, batch: int = 8,
                     progress: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
    """log p(y | x) of every candidate row under each problem (same query, reference and scale;
    e.g. one per encoder): the candidates are rendered ``batch`` at a time through the batched
    chain, and each render is embedded by every problem's encoder."""
    first = problems[0]
    scores = [np.empty(len(rows)) for _ in problems]
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            group = torch.as_tensor(np.asarray(rows[start:start + batch]), dtype=first.query.dtype,
                                    device=first.query.device)
            pred = first.renderer(group, first.query) * first.scale  # (g, N, 2, T)
            flat = pred.reshape(-1, *pred.shape[2:])
            for k, p in enumerate(problems):
                mid, side = p.encoder(flat)
                mid, side = mid.view(len(group), -1, mid.shape[-1]), side.view(len(group), -1, side.shape[-1])
                for i in range(len(group)):
                    scores[k][start + i] = float(log_likelihood((mid[i], side[i]), p.reference)[0])
            if progress is not None:
                progress(min(start + batch, len(rows)), len(rows))
    return scores


def nearest_embedding(problem: Problem, candidates: np.ndarray | None = None,
                      progress: Callable[[int, int], None] | None = None, batch: int = 8
                      ) -> tuple[int, np.ndarray]:
    """The candidate (default: the prior's training presets) whose render on the query has the
    highest log p(y | x). Returns (index, log-likelihoods of all candidates)."""
    rows = problem.prior.rows if candidates is None else np.asarray(candidates, np.float64)
    if rows is None:
        raise ValueError("the prior holds no training presets to search")
    (scores,) = candidate_scores([problem], rows, batch, progress)
    return int(np.argmax(scores)), scores


def nearest_parameters(prior: PresetPrior, target: np.ndarray) -> int:
    """NN-theta: the training preset nearest to the true masked logits (mean squared difference)."""
    return int(np.argmin(((prior.rows - np.asarray(target, np.float64)) ** 2).mean(1)))


def parameter_mse(pred: np.ndarray, target: np.ndarray) -> float:
    """The authors' parameter MSE: the mean over the 130 masked dimensions of the squared
    difference of raw logits."""
    return float(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2))


def _stereo(reference: np.ndarray) -> np.ndarray:
    ref = np.asarray(reference, np.float32)
    if ref.ndim == 1:
        ref = ref[None]
    if ref.ndim != 2 or ref.shape[0] not in (1, 2):
        raise ValueError(f"the reference must be mono or stereo (channels, samples), got shape {ref.shape}")
    return np.repeat(ref, 2, 0) if ref.shape[0] == 1 else ref


def _mono(dry: np.ndarray) -> np.ndarray:
    dry = np.asarray(dry, np.float32)
    if dry.ndim == 2:
        dry = dry.mean(0)
    if dry.ndim != 1:
        raise ValueError(f"the dry signal must be (samples,) or (channels, samples), got shape {dry.shape}")
    return dry


def transfer(dry: np.ndarray, reference: np.ndarray, method: str = "ito", encoder="mfcc",
             alpha: float = 0.01, steps: int = 1000, lr: float = 0.01, seed: int = 0,
             device: str = "cpu", prior: PresetPrior | None = None,
             chunk_seconds: float = CHUNK_SECONDS) -> Preset:
    """The preset that makes ``dry`` (T,) (stereo is downmixed) sound like ``reference`` (2, T)
    (mono is duplicated), both at 44.1 kHz: ``method`` "ito" (the prior-weighted optimisation),
    "mean" (the prior mean) or "nn-emb" (the training preset whose render is likeliest). Queries
    are all active chunks of the dry, references all active chunks of the reference."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    check_settings(alpha, steps, lr)
    prior = prior if prior is not None else PresetPrior.internal()
    if method == "mean":
        return prior.preset(prior.mean, "transfer-mean")
    torch.manual_seed(seed)
    problem = Problem.make(active_chunks(_mono(dry)[None], "dry signal", chunk_seconds)[:, :1],
                           active_chunks(_stereo(reference), "reference", chunk_seconds),
                           encoder, prior, device)
    if method == "nn-emb":
        index, _ = nearest_embedding(problem)
        return prior.preset(prior.rows[index], f"transfer-nn-emb-{index}")
    state = ito(problem, alpha, steps, lr)
    return prior.preset(state.vector, "transfer-ito")


def check_settings(alpha: float, steps: int, lr: float) -> None:
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a number >= 0, got {alpha}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive number, got {lr}")
