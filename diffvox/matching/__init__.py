"""Sound matching: fitting a preset to a (dry, wet) pair. ``prepare`` holds the data steps."""
from .prepare import Chunks, align, chunk_pair, normalise_loudness

__all__ = ["Chunks", "align", "chunk_pair", "normalise_loudness"]
