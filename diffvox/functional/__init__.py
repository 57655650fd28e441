"""Functional DSP kernels of the chain (no parameters, no modules)."""
