"""Sound matching: fitting a preset to a (dry, wet) pair by gradient descent."""
from .evaluate import METRICS, evaluate
from .fit import VARIANTS, MatchConfig, Pair, fit, prepare_pair
from .prepare import Chunks, align, chunk_pair, normalise_loudness

__all__ = ["METRICS", "VARIANTS", "Chunks", "MatchConfig", "Pair", "align", "chunk_pair", "evaluate",
           "fit", "normalise_loudness", "prepare_pair"]
