"""The exact time-domain chain: the same presets rendered sample by sample (recursive delay,
time-domain FDN), offline and as a stream. This is the paper's "w/o Approx." renderer."""
from .parameters import PAPER_CLIP_Q, ExactParameters, UnstableLoopError, exact_parameters
from .render import Stream, render_exact, render_stream

__all__ = ["PAPER_CLIP_Q", "ExactParameters", "Stream", "UnstableLoopError", "exact_parameters",
           "render_exact", "render_stream"]
