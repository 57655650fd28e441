"""Checking a device name before any work is done on it, and which code path a tensor takes."""
from __future__ import annotations

import contextlib

import torch

_tensor_paths = False


def cpu_kernels(where: torch.Tensor | torch.device) -> bool:
    """Whether the compiled CPU kernels (numba) serve a tensor (or a device): the CPU, unless
    :func:`tensor_paths` is active."""
    device = where.device if isinstance(where, torch.Tensor) else where
    return device.type == "cpu" and not _tensor_paths


@contextlib.contextmanager
def tensor_paths():
    """Run, on the CPU, the code paths other devices take: tensor operations instead of the
    compiled kernels, parallel scans (mixed precision for float32 signals) instead of the fused
    IIR kernels. For checking without a GPU what a GPU run computes (slow; not thread-safe)."""
    global _tensor_paths
    previous, _tensor_paths = _tensor_paths, True
    try:
        yield
    finally:
        _tensor_paths = previous


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` that exists here; a ValueError that says why otherwise."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device}: no CUDA device is available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device}: diffvox runs on cpu or cuda")
    return resolved
