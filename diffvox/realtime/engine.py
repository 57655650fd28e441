"""The exact chain's state machine: EQ and compressor gain (the part before the lookahead), and
direct, delay and reverb (the part after it). Each half processes blocks of any length."""
from __future__ import annotations

import numpy as np

from . import kernels
from .parameters import ExactParameters

FDN_SUB_BLOCK = 928  # samples per FDN sub-block: below the shortest shortened line (949)


class Engine:
    """State of one exact chain; :meth:`front` and :meth:`back` advance it by one block."""

    def __init__(self, params: ExactParameters):
        self.p = params
        self.reset()

    def reset(self) -> None:
        p = self.p
        self.eq_state = np.zeros((len(p.eq_sos), 2))
        self.power_state, self.gain_state = np.zeros(1), np.ones(1)
        if p.delay is not None:
            self.delay_buffers = np.zeros((3, p.delay["d"]))
            self.delay_filter = np.zeros((2, 2))
            self.delay_pos = 0
        if p.reverb is not None:
            r = p.reverb
            lines, n_taps = r["taps"].shape
            size = 1 << int(np.ceil(np.log2(int(r["delays"].max()) + FDN_SUB_BLOCK + 1)))
            self.w_buf, self.w_pos = np.zeros((lines, size)), 0
            self.o_buf = np.zeros((lines, n_taps - 1 + FDN_SUB_BLOCK))
            self.s = np.zeros((lines, FDN_SUB_BLOCK))
            self.tone_state = np.zeros((2, len(r["tone_sos"]), 2))

    def front(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mono block (n,) -> (EQ output (n,), compressor gain before the lookahead (n,))."""
        p = self.p
        x_eq, power, gain = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        kernels.biquad_cascade(x, p.eq_sos, self.eq_state, x_eq)
        kernels.running_power(x_eq, p.avg_coef, self.power_state, power)
        static = kernels.static_gain(power, p.cmp_th, p.cmp_slope, p.exp_th, p.exp_slope)
        kernels.smooth_gain(static, p.attack, p.release, self.gain_state, gain)
        return x_eq, gain

    def back(self, u: np.ndarray, stages: bool = True) -> dict[str, np.ndarray]:
        """Compressor output (n,) -> direct, delay, reverb and wet, each (2, n) (only wet when
        ``stages`` is false)."""
        p = self.p
        out = {"direct": p.direct_gains[:, None] * u}
        wet = out["direct"] if not stages else out["direct"].copy()
        reverb_in = np.broadcast_to(u, (2, len(u)))
        if p.delay is not None:
            d = p.delay
            odd, even = np.empty_like(u), np.empty_like(u)
            self.delay_pos = kernels.pingpong_delay(u, d["d"], d["loop_sos"], d["feedback"],
                                                    self.delay_buffers, self.delay_filter,
                                                    self.delay_pos, odd, even)
            out["delay"] = d["gain"] * (d["odd_gains"][:, None] * odd + d["even_gains"][:, None] * even)
            wet += out["delay"]
            reverb_in = reverb_in + p.send * out["delay"]
        if p.reverb is not None:
            r = p.reverb
            lines_out = np.empty((2, len(u)))
            self.w_pos = kernels.fdn(np.ascontiguousarray(reverb_in), r["b"], r["c"], r["U"], r["taps"],
                                     r["symmetric"], r["delays"], self.w_buf, self.w_pos, self.o_buf, self.s, lines_out)
            reverb = np.empty_like(lines_out)
            for ch in range(2):
                kernels.biquad_cascade(lines_out[ch], r["tone_sos"], self.tone_state[ch], reverb[ch])
            out["reverb"] = reverb
            wet += reverb
        return {**out, "wet": wet} if stages else {"wet": wet}
