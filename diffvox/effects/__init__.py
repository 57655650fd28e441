"""The chain's effects as ``nn.Module``s holding logits (one preset each)."""
from .compressor import CompressorExpander
from .delay import PingPongDelay
from .eq import EQ, Band
from .fdn import FDNReverb
from .pan import Pan

__all__ = ["Band", "EQ", "CompressorExpander", "Pan", "PingPongDelay", "FDNReverb"]
