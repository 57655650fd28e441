"""Parameter ranges of the DiffVox chain's 6-band EQ (Hz, Q, dB), as fitted in the paper."""
from __future__ import annotations

import torch

from .biquad import biquad_coefficients

#: (kind, (f_lo, f_hi) Hz, (q_lo, q_hi), (gain_lo, gain_hi) dB); shelves use Q = 0.707.
CHAIN_EQ = (
    ("peak", (33.0, 5400.0), (0.2, 20.0), (-12.0, 12.0)),
    ("peak", (200.0, 17500.0), (0.2, 20.0), (-12.0, 12.0)),
    ("lowshelf", (30.0, 200.0), (0.707, 0.707), (-12.0, 12.0)),
    ("highshelf", (750.0, 8300.0), (0.707, 0.707), (-12.0, 12.0)),
    ("lowpass", (200.0, 18000.0), (0.5, 10.0), (0.0, 0.0)),
    ("highpass", (16.0, 5300.0), (0.5, 10.0), (0.0, 0.0)),
)


def random_chain_eq(n_rows: int, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float64, sr: float = 44100.0) -> torch.Tensor:
    """Random 6-band EQs in the chain's ranges (frequencies and Q log-uniform): (n_rows, 6, 6)."""
    sections = []
    for kind, (f_lo, f_hi), (q_lo, q_hi), (g_lo, g_hi) in CHAIN_EQ:
        u = torch.rand(3, n_rows, generator=generator, dtype=torch.float64)
        freq = f_lo * (f_hi / f_lo) ** u[0]
        q = q_lo * (q_hi / q_lo) ** u[1]
        gain = g_lo + (g_hi - g_lo) * u[2]
        sections.append(biquad_coefficients(kind, freq, q, gain, sr))
    return torch.stack(sections, dim=1).to(dtype)
