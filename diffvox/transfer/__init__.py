"""Vocal effects style transfer with the preset prior (Yu et al., WASPAA 2025)."""
from .core import (CHUNK_SECONDS, COS_MARGIN, candidate_scores, METHODS, Problem, Renderer, State, TooFewChunks, active,
                   active_chunks, angles, evaluation_chunks, ito, log_likelihood, nearest_embedding,
                   nearest_parameters, parameter_mse, split_chunks, transfer)
from .encoders import ENCODERS, MFCC, MIR, Encoder, get_encoder, mid_side
from .prior import PresetPrior

__all__ = ["candidate_scores", "CHUNK_SECONDS", "COS_MARGIN", "ENCODERS", "METHODS", "MFCC", "MIR", "Encoder", "PresetPrior",
           "Problem", "Renderer", "State", "TooFewChunks", "active", "active_chunks", "angles",
           "evaluation_chunks", "get_encoder", "ito", "log_likelihood", "mid_side", "nearest_embedding",
           "nearest_parameters", "parameter_mse", "split_chunks", "transfer"]
