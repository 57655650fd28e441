"""Vocal effects style transfer with the preset prior (Yu et al., WASPAA 2025).

Names are imported on first use, so that the command line's ``--help`` does not import torch."""
from __future__ import annotations

import importlib

_WHERE = {
    **{name: "core" for name in (
        "CHUNK_SECONDS", "COS_MARGIN", "candidate_scores", "METHODS", "Problem", "Renderer", "State",
        "TooFewChunks", "active", "active_chunks", "angles", "evaluation_chunks", "ito", "log_likelihood",
        "nearest_embedding", "nearest_parameters", "parameter_mse", "split_chunks", "transfer")},
    **{name: "encoders" for name in ("ENCODERS", "MFCC", "MIR", "Encoder", "get_encoder", "mid_side")},
    "PresetPrior": "prior",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
