"""diffvox: differentiable vocal effects (the DiffVox chain), fast exact IIR filtering, sound
matching and analysis of the published presets."""

__all__ = ["DiffVox"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # imported on first use, so that `diffvox --help`, `--version` and argument errors answer
    # without importing torch (about 1.3 s)
    if name == "DiffVox":
        from .chain import DiffVox

        return DiffVox
    raise AttributeError(f"module 'diffvox' has no attribute {name!r}")
