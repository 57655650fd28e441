"""The DiffVox chain: EQ -> compressor -> (pan | ping-pong delay | FDN reverb), summed."""
from __future__ import annotations

import torch
from torch import nn

from .contract import Child, Contract, Derived, Field, Range
from .effects import EQ, Band, CompressorExpander, FDNReverb, Pan, PingPongDelay
from .filters.ranges import CHAIN_EQ
from .functional.routing import mono_to_stereo, tail_kernel
from .params import unit_logit

# initial values of the fit (fx_config.yaml)
EQ_INIT_HZ = (800.0, 4000.0, 115.0, 6000.0, 17500.0, 200.0)
EQ_LABELS = ("PK1", "PK2", "LS", "HS", "LP", "HP")


class DiffVox(nn.Module):
    """Mono (B, 1, T) -> stereo (B, 2, T); one preset's parameters as logits.

    ``delay=False`` / ``reverb=False`` give the paper's ablations; ``surrogate=False`` trains
    the delay without its surrogate (our ``exact-delay-grad`` experiment, not the paper's
    "w/o Approx.", which renders a fitted preset with :mod:`diffvox.realtime`). In training
    mode with ``surrogate=True`` the delay's gradients flow through the damped surrogate; see
    :meth:`regulariser`.
    """

    def __init__(self, sr: float = 44100.0, delay: bool = True, reverb: bool = True,
                 surrogate: bool = True):
        super().__init__()
        self.sr = sr
        self.eq = EQ([Band(kind, f0, *f_range, sr=sr)
                      for (kind, f_range, _, _), f0 in zip(CHAIN_EQ, EQ_INIT_HZ)])
        self.compressor = CompressorExpander(sr)
        self.pan = Pan()
        self.delay = PingPongDelay(sr, surrogate=surrogate) if delay else None
        self.reverb = FDNReverb(sr) if reverb else None
        self.send = nn.Parameter(torch.tensor([-3.0])) if delay and reverb else None

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """(B, 1, T) -> (B, 2, T - start): EQ and compressor, then everything after them as one
        response (:meth:`tail_kernel`); the same values as :meth:`stages`'s ``wet[..., start:]``,
        faster. ``start``: the first output sample wanted (a fit's loss skips the warm-up)."""
        u = self.compressor(self.eq(self._mono(x)))
        if not 0 <= start < u.shape[-1]:
            raise ValueError(f"start must be in [0, {u.shape[-1]}), got {start}")
        return mono_to_stereo(u, self.tail_kernel(u.shape[-1]).to(u.dtype), start)

    def tail_kernel(self, max_length: int | None = None) -> torch.Tensor:
        """(2, L): the response from the compressor's output to the chain's output (direct pan,
        delay, reverb and send), truncated to ``max_length`` taps."""
        delay = None
        if self.delay is not None:
            odd, even = self.delay.kernels()
            delay = (self.delay.odd_pan.gains().unsqueeze(-1) * odd
                     + self.delay.even_pan.gains().unsqueeze(-1) * even)
        reverb = self.reverb.impulse_response() if self.reverb is not None else None
        send = torch.sigmoid(self.send).squeeze() if self.send is not None else None
        return tail_kernel(self.pan.gains(), delay, reverb, send, max_length)

    def preset_contract(self) -> Contract:
        """The preset's sections in the published row's order (see :mod:`diffvox.contract`)."""
        send = (Field("send", "send_delay_to_reverb", "", Range(0.0, 1.0), lambda z: torch.sigmoid(z[0]),
                      lambda v: unit_logit(v).reshape(1), notation="send", effect="SEND",
                      stored_name="7.sends_0"),) if self.send is not None else ()
        return Contract((
            *[Child("eq[]", band, f"{i}.", label) for i, (band, label) in
              enumerate(zip(self.eq.bands, EQ_LABELS))],
            Child("compressor", self.compressor, "6."),
            *send,
            Child("delay", self.delay, "7.effects.0."),
            Child("reverb", self.reverb, "7.effects.1."),
            Child("direct_pan", self.pan, "7.pan.", "PAN"),
        ), (Derived("sample_rate_hz", "Hz", lambda v: self.sr),))

    @staticmethod
    def _mono(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DiffVox takes a float tensor (B, 1, T), got {type(x).__name__}"
                            + (" (use torch.from_numpy(x).float().view(1, 1, -1))" if hasattr(x, "shape") else ""))
        if not x.is_floating_point():
            raise TypeError(f"DiffVox takes float samples in [-1, 1], got {x.dtype} (scale integer "
                            "PCM first, e.g. x / 32768 for int16)")
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"DiffVox expects mono input of shape (B, 1, T), got {tuple(x.shape)}")
        if x.shape[-1] == 0:
            raise ValueError("DiffVox got an empty signal (0 samples)")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("DiffVox got an input holding NaN or Inf samples")
        return x[:, 0]

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate signal, stage by stage: peq (B, T), comp (B, T), direct, delay,
        reverb, wet (B, 2, T)."""
        out = {"peq": self.eq(self._mono(x))}
        u = out["comp"] = self.compressor(out["peq"])
        out["direct"] = self.pan(u)
        wet = out["direct"]
        reverb_in = u.unsqueeze(1).expand(-1, 2, -1)
        if self.delay is not None:
            out["delay"] = self.delay(u)
            wet = wet + out["delay"]
            if self.reverb is not None:
                reverb_in = reverb_in + torch.sigmoid(self.send) * out["delay"]
        if self.reverb is not None:
            out["reverb"] = self.reverb(reverb_in)
            wet = wet + out["reverb"]
        out["wet"] = wet
        return out

    def regulariser(self) -> torch.Tensor:
        """The surrogate delay's ``(1 - eta)^2`` (zero when not training with the surrogate)."""
        if self.delay is None or not (self.training and self.delay.surrogate):
            return torch.zeros(())
        return self.delay.regulariser()
