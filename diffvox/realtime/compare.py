"""The frequency-sampled (FS) chain against the exact time-domain chain, one preset at a time."""
from __future__ import annotations

import numpy as np
import torch

from .parameters import PAPER_CLIP_Q, exact_parameters
from .render import render_exact


def loop_report(preset) -> dict:
    """Stability of the exact loops without and with the paper's Q clip: the delay's loop gain
    (feedback x the low-pass peak) and the FDN's (the decay filters' peak; U is orthogonal)."""
    chain = preset.to_chain().eval()
    raw, clipped = exact_parameters(chain), exact_parameters(chain, PAPER_CLIP_Q)
    d, r = raw.delay, raw.reverb
    return {"delay_feedback": d["feedback"], "delay_q": d["q"], "lowpass_peak": d["lowpass_peak"],
            "delay_loop_gain": d["loop_gain"], "delay_loop_gain_clipped": clipped.delay["loop_gain"],
            "fdn_loop_gain": r["loop_gain"],
            "unstable": bool(d["loop_gain"] >= 1 or r["loop_gain"] >= 1),
            "unstable_clipped": bool(clipped.delay["loop_gain"] >= 1 or r["loop_gain"] >= 1)}


def compare_renders(preset, dry: np.ndarray) -> dict:
    """FS render and exact render (Q clip 0.707) of mono ``dry``: both (2, T) float32, and the
    four metrics of the exact one against the FS one (``evaluate(exact, fs)``)."""
    from ..matching.evaluate import evaluate

    with torch.no_grad():
        fs = preset.to_chain().eval()(torch.from_numpy(np.asarray(dry, np.float32)).view(1, 1, -1))[0].numpy()
    exact = render_exact(preset, dry, clip_q=PAPER_CLIP_Q).astype(np.float32)
    return {"fs": fs, "exact": exact, "metrics": evaluate(exact, fs)}
