"""The DiffVox chain: EQ -> compressor -> (pan | ping-pong delay | FDN reverb), summed, over a
batch of presets.

The chain holds every preset's logits as one (P, D) tensor, in the published row's order: a
preset row *is* the chain's parameter vector. Each effect declares its parameters once
(:meth:`preset_contract`: name, unit, range, the map from logits to values and back, the
paper's notation, the published key); the chain slices the row by those declarations, decodes
each effect's values, and runs the functional DSP (:mod:`diffvox.functional`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .contract import Child, Contract, Derived, Field, Range, walk
from .effects import EQ, Band, CompressorExpander, FDNReverb, Pan, PingPongDelay
from .functional.compressor import compressor_expander
from .functional.convolution import causal_fft_conv
from .functional.delay import pingpong_kernels
from .functional.fdn import fdn_impulse_response
from .functional.pan import pan_gains
from .functional.routing import mono_to_stereo, tail_kernel
from .filters import sosfilt
from .devices import cpu_kernels
from .params import unit_logit

#: the chain's six EQ bands: kind, initial Hz (fx_config.yaml), Hz range, paper label
CHAIN_EQ = (
    ("peak", 800.0, (33.0, 5400.0), "PK1"),
    ("peak", 4000.0, (200.0, 17500.0), "PK2"),
    ("lowshelf", 115.0, (30.0, 200.0), "LS"),
    ("highshelf", 6000.0, (750.0, 8300.0), "HS"),
    ("lowpass", 17500.0, (200.0, 18000.0), "LP"),
    ("highpass", 200.0, (16.0, 5300.0), "HP"),
)
#: the paper's ablations as chain options ("w/o Approx." is not a variant: it renders the full
#: fit's preset with the exact chain); ``exact-delay-grad`` trains the delay without its
#: surrogate, an experiment of our own
VARIANTS = {
    "full": {},
    "exact-delay-grad": {"surrogate": False},
    "no-reverb": {"reverb": False},
    "no-delay": {"delay": False},
    "no-spatial": {"delay": False, "reverb": False},
}
ETA_INIT = math.log(math.expm1(0.01))  # log_eta = -softplus(eta) starts at -0.01


class DiffVox(nn.Module):
    """Mono (N, 1, T) -> stereo (N, 2, T) for ``presets`` presets held as ``logits`` (P, D).

    The signal's leading dim N broadcasts with P (N = P: one signal per preset; P = 1: one
    preset on N signals; N = 1: one signal through every preset). Chunks per preset: (P, B, 1,
    T) -> (P, B, 2, T). ``delay=False`` / ``reverb=False`` leave the effect (and its keys) out;
    :meth:`set_variants` switches them off per row instead, so that a batch holds a whole
    ablation. ``surrogate=False`` trains the delay without its surrogate (``exact-delay-grad``).
    """

    def __init__(self, sr: float = 44100.0, delay: bool = True, reverb: bool = True,
                 surrogate: bool = True, presets: int = 1):
        super().__init__()
        if int(presets) < 1:
            raise ValueError(f"a chain holds at least one preset, got presets={presets}")
        self.sr = sr
        self.eq = EQ([Band(kind, f0, *f_range, sr=sr) for kind, f0, f_range, _ in CHAIN_EQ])
        self.compressor = CompressorExpander(sr)
        self.pan = Pan()
        self.delay = PingPongDelay(sr) if delay else None
        self.reverb = FDNReverb(sr) if reverb else None
        self.has_send = delay and reverb
        self.entries = walk(self)[0]
        bounds = np.cumsum([0] + [e.field.size for e in self.entries])
        self.slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        row = torch.cat([e.field.init_logits().reshape(-1) for e in self.entries])
        self.logits = nn.Parameter(row.float().repeat(int(presets), 1))
        self.eta = nn.Parameter(torch.full((int(presets),), ETA_INIT)) if delay else None
        self.register_buffer("rows_delay", torch.ones(int(presets), dtype=torch.bool), persistent=False)
        self.register_buffer("rows_reverb", torch.ones(int(presets), dtype=torch.bool), persistent=False)
        self.register_buffer("rows_surrogate", torch.full((int(presets),), bool(surrogate)),
                             persistent=False)

    # --- the preset as a row ---------------------------------------------------------------------
    def preset_contract(self) -> Contract:
        """The preset's sections in the published row's order (see :mod:`diffvox.contract`)."""
        send = (Field("send", "send_delay_to_reverb", "", Range(0.0, 1.0),
                      lambda z: torch.sigmoid(z[..., 0]), lambda v: unit_logit(v).unsqueeze(-1),
                      notation="send", effect="SEND", stored_name="7.sends_0", shape=(1,),
                      init=float(torch.sigmoid(torch.tensor(-3.0, dtype=torch.float64)))),
                ) if self.has_send else ()
        return Contract((
            *[Child("eq[]", band, f"{i}.", label) for i, (band, (*_, label)) in
              enumerate(zip(self.eq.bands, CHAIN_EQ))],
            Child("compressor", self.compressor, "6."),
            *send,
            Child("delay", self.delay, "7.effects.0."),
            Child("reverb", self.reverb, "7.effects.1."),
            Child("direct_pan", self.pan, "7.pan.", "PAN"),
        ), (Derived("sample_rate_hz", "Hz", lambda v: self.sr),))

    @property
    def presets(self) -> int:
        return self.logits.shape[0]

    @property
    def keys(self) -> tuple[str, ...]:
        """The published keys of the row's parameters, in order."""
        return tuple(e.key for e in self.entries)

    def columns(self, keys: Sequence[str], sizes: Sequence[int]) -> torch.Tensor:
        """Indices into a row laid out by ``keys`` of ``sizes`` (e.g. the published 151) that
        give this chain's row (a variant's keys are a subset)."""
        starts = dict(zip(keys, np.cumsum([0, *sizes[:-1]]).tolist()))
        missing = [e.key for e in self.entries if e.key not in starts]
        if missing:
            raise ValueError(f"the row lacks {len(missing)} of the chain's keys, e.g. {missing[0]!r}")
        return torch.cat([torch.arange(starts[e.key], starts[e.key] + e.field.size) for e in self.entries])

    @torch.no_grad()
    def load(self, rows, layout=None) -> "DiffVox":
        """Set the logits from ``rows`` (P, W) (or one row (W,)) laid out by ``layout`` (its
        ``keys`` and ``sizes``; default: this chain's own order). Returns self."""
        rows = torch.as_tensor(np.asarray(rows, dtype=np.float64))
        rows = rows.reshape(-1, rows.shape[-1])
        if layout is not None and tuple(layout.keys) != self.keys:
            rows = rows[:, self.columns(layout.keys, layout.sizes)]
        if rows.shape != self.logits.shape:
            raise ValueError(f"the chain holds logits {tuple(self.logits.shape)}, got rows {tuple(rows.shape)}")
        self.logits.copy_(rows.to(self.logits.dtype))
        return self

    def set_variants(self, variants: Sequence[str]) -> "DiffVox":
        """One variant per row (``VARIANTS``): its delay or reverb is silenced and takes no
        gradient; ``exact-delay-grad`` rows train the delay without the surrogate."""
        if len(variants) != self.presets:
            raise ValueError(f"{len(variants)} variants for {self.presets} presets")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant {unknown[0]!r}; expected one of {', '.join(VARIANTS)}")
        def rows(option: str) -> torch.Tensor:
            return torch.tensor([VARIANTS[v].get(option, True) for v in variants])

        for effect in ("delay", "reverb"):
            if getattr(self, effect) is None and bool(rows(effect).any()):
                raise ValueError(f"this chain has no {effect}: build it with {effect}=True")
        self.rows_delay.copy_(rows("delay"))
        self.rows_reverb.copy_(rows("reverb"))
        self.rows_surrogate.copy_(rows("surrogate") & rows("delay"))
        return self

    def decode(self, rows: slice | torch.Tensor | None = None) -> dict[nn.Module, dict[str, torch.Tensor]]:
        """{effect: {parameter: values (P, ...)}} of the chain's presets (or of those in
        ``rows``). The chain's own entry also holds what the DSP needs of those rows beyond their
        values: ``delay_on``, ``reverb_on``, ``surrogate_on`` (variants) and ``log_eta`` (the
        surrogate's damping)."""
        rows = slice(None) if rows is None else rows
        z = self.logits[rows]
        out: dict[nn.Module, dict[str, torch.Tensor]] = {self: {}}
        for entry, cols in zip(self.entries, self.slices):
            value = entry.field.to_value(z[:, cols].reshape(-1, *entry.field.shape))
            out.setdefault(entry.module, {})[entry.field.param] = value
        out[self].update(delay_on=self.rows_delay[rows], reverb_on=self.rows_reverb[rows],
                         surrogate_on=self.rows_surrogate[rows])
        if self.eta is not None:
            out[self]["log_eta"] = -F.softplus(self.eta[rows])
        return out

    # --- the DSP ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, start: int = 0,
                rows: slice | torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, T) or (P, B, 1, T) -> (..., 2, T - start): EQ and compressor, then everything
        after them as one response (:meth:`tail_kernel`); the values of :meth:`stages`'s
        ``wet[..., start:]``, faster. ``start``: the first output sample wanted (a fit's loss
        skips the warm-up); ``rows``: only these presets (P is then their number)."""
        v = self.decode(rows=rows)
        x, shape = self._rows(x, v)
        u = self._compress(v, self._equalise(v, x))
        if not 0 <= start < u.shape[-1]:
            raise ValueError(f"start must be in [0, {u.shape[-1]}), got {start}")
        if cpu_kernels(u) and u.shape[0] > 1:
            # on the CPU one preset at a time: FFTs of other batch sizes round differently, and a
            # fit's Adam amplifies a last-bit difference, so a batched fit would not be its solo
            # fit bit for bit; the transforms are per-preset work either way
            y = torch.cat([self._tail(u[p : p + 1], _row(v, p), start) for p in range(u.shape[0])])
        else:
            y = self._tail(u, v, start)
        return y.reshape(*shape, 2, y.shape[-1])

    def _tail(self, u: torch.Tensor, v: dict, start: int) -> torch.Tensor:
        return mono_to_stereo(u, self.tail_kernel(u.shape[-1], v).to(u.dtype).unsqueeze(1), start)

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate signal, stage by stage: peq (..., T), comp (..., T), direct, delay,
        reverb, wet (..., 2, T)."""
        v = self.decode()
        x, shape = self._rows(x, v)
        peq = self._equalise(v, x)
        u = self._compress(v, peq)
        out = {"peq": peq, "comp": u, "direct": pan_gains(v[self.pan]["pan"]).unsqueeze(1).unsqueeze(-1)
               * u.unsqueeze(-2)}
        wet, reverb_in = out["direct"], u.unsqueeze(-2).expand(*u.shape[:-1], 2, -1)
        if self.delay is not None:
            out["delay"] = mono_to_stereo(u, self.delay_response(v).to(u.dtype).unsqueeze(1))
            wet = wet + out["delay"]
            if self.reverb is not None:
                reverb_in = reverb_in + v[self]["send"].to(u.dtype).view(-1, 1, 1, 1) * out["delay"]
        if self.reverb is not None:
            h = self.reverb_response(v).to(u.dtype)  # (P, 2 out, 2 in, N)
            out["reverb"] = causal_fft_conv(reverb_in.unsqueeze(-3), h.unsqueeze(1)).sum(-2)
            wet = wet + out["reverb"]
        out["wet"] = wet
        return {k: t.reshape(*shape, *t.shape[2:]) for k, t in out.items()}

    def tail_kernel(self, max_length: int | None = None, values: dict | None = None) -> torch.Tensor:
        """(P, 2, L): the response from the compressor's output to the chain's output (direct pan,
        delay, reverb and send), truncated to ``max_length`` taps."""
        v = self.decode() if values is None else values
        # effects that no row has (a chain without them, or rows of a variant) are left out, as
        # a chain built without them does; rows with and without one are masked
        delay = self.delay_response(v) if self.delay is not None and bool(v[self]["delay_on"].any()) else None
        reverb = (self.reverb_response(v, max_length)
                  if self.reverb is not None and bool(v[self]["reverb_on"].any()) else None)
        send = v[self]["send"] if self.has_send and delay is not None and reverb is not None else None
        return tail_kernel(pan_gains(v[self.pan]["pan"]), delay, reverb, send, max_length)

    def eq_sos(self, values: dict | None = None) -> torch.Tensor:
        """(P, 6, 6) the EQ's sections."""
        v = self.decode() if values is None else values
        return torch.stack([band.sos(v[band]) for band in self.eq.bands], dim=-2)

    def regulariser(self, per_preset: bool = False, rows: slice | torch.Tensor | None = None) -> torch.Tensor:
        """The surrogate delay's ``(1 - eta)^2`` summed over the presets (each row's with
        ``per_preset``; only ``rows`` if given); zero outside training and for rows without the
        surrogate."""
        rows = slice(None) if rows is None else rows
        n = len(self.rows_surrogate[rows])
        if self.eta is None or not self.training:
            return torch.zeros(n if per_preset else (), device=self.logits.device)
        term = (1 - torch.exp(-F.softplus(self.eta[rows]))) ** 2 * self.rows_surrogate[rows]
        return term if per_preset else term.sum()

    # --- the stages ------------------------------------------------------------------------------
    def _rows(self, x: torch.Tensor, v: dict) -> tuple[torch.Tensor, tuple[int, ...]]:
        """x -> (P, B, T) with the output's leading shape (P: the presets of ``v``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DiffVox takes a float tensor (N, 1, T), got {type(x).__name__}"
                            + (" (use torch.from_numpy(x).float().view(1, 1, -1))" if hasattr(x, "shape") else ""))
        if not x.is_floating_point():
            raise TypeError(f"DiffVox takes float samples in [-1, 1], got {x.dtype} (scale integer "
                            "PCM first, e.g. x / 32768 for int16)")
        if x.dim() not in (3, 4) or x.shape[-2] != 1:
            raise ValueError(f"DiffVox expects mono input of shape (N, 1, T) or (P, B, 1, T), got {tuple(x.shape)}")
        if x.shape[-1] == 0:
            raise ValueError("DiffVox got an empty signal (0 samples)")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("DiffVox got an input holding NaN or Inf samples")
        p, n = len(v[self]["delay_on"]), x.shape[0]
        if n not in (1, p) and p != 1:
            raise ValueError(f"the signal's leading dim {n} does not match the chain's {p} presets")
        if x.dim() == 3:
            if p == 1:
                return x[:, 0].unsqueeze(0), (n,)
            return x[:, 0].expand(p, -1).unsqueeze(1), (p,)
        if p == 1 and n != 1:
            raise ValueError(f"(P, B, 1, T) input needs P = {p}, got {n}")
        return x[..., 0, :].expand(p, -1, -1), (p, x.shape[1])

    def _equalise(self, v, x: torch.Tensor) -> torch.Tensor:
        return sosfilt(self.eq_sos(v).unsqueeze(1), x)

    def _compress(self, v, x: torch.Tensor) -> torch.Tensor:
        p, b, t = x.shape
        c = {k: val.to(x.dtype).reshape(p, 1).expand(p, b).reshape(-1) for k, val in v[self.compressor].items()}
        y = compressor_expander(x.reshape(p * b, t), c["cmp_th"], c["cmp_ratio"], c["exp_th"], c["exp_ratio"],
                                c["at"], c["rt"], c["avg_coef"], c["lookahead"], c["make_up"], self.sr)
        return y.reshape(p, b, t)

    def delay_response(self, v) -> torch.Tensor:
        """(P, 2, N) the delay's echoes per output channel, pans and gain included; zero in rows
        whose variant has no delay."""
        d = v[self.delay]
        own = v[self]
        surrogate = self.training and bool(own["surrogate_on"].any())
        kernels = pingpong_kernels(d["delay"] * self.sr / 1000, d["feedback"], d["gain"],
                                   self.delay.eq.sos(v[self.delay.eq]).unsqueeze(1), self.delay.n,
                                   own["log_eta"] if surrogate else None,
                                   own["surrogate_on"] if surrogate else None)
        odd = pan_gains(v[self.delay.odd_pan]["pan"]).unsqueeze(-1) * kernels[:, :1]
        even = pan_gains(v[self.delay.even_pan]["pan"]).unsqueeze(-1) * kernels[:, 1:]
        response = odd + even
        on = v[self]["delay_on"]
        return response if bool(on.all()) else response * on.view(-1, 1, 1)

    def reverb_response(self, v, max_length: int | None = None) -> torch.Tensor:
        """(P, 2 out, 2 in, N) the FDN's response with its tone EQ (its first ``max_length``
        taps: the EQ is causal); zero in rows without reverb."""
        r = v[self.reverb]
        h = fdn_impulse_response(r["b"], r["c"], r["gamma"], r["U"], self.reverb.n)[..., :max_length]
        sos = torch.stack([band.sos(v[band]) for band in self.reverb.eq.bands], dim=-2)
        h = sosfilt(sos.view(-1, 1, 1, *sos.shape[-2:]), h)
        on = v[self]["reverb_on"]
        return h if bool(on.all()) else h * on.view(-1, 1, 1, 1)


def _row(values: dict, p: int) -> dict:
    """The values of preset ``p`` of a batch, as a batch of one."""
    return {module: {k: t[p : p + 1] for k, t in params.items()} for module, params in values.items()}
