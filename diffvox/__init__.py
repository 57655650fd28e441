"""diffvox: differentiable vocal effects (the DiffVox chain), fast exact IIR filtering, sound
matching and analysis of the published presets."""
from .chain import DiffVox

__all__ = ["DiffVox"]
__version__ = "0.1.0"
