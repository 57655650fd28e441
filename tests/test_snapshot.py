"""The chain restructured (presets as a batch, each parameter declared once) against what the
per-module chain computed before (tests/data/chain_snapshot.npz, written by
scripts/snapshot_chain.py at commit 467b853): renders in float64 and float32, every stage,
gradients by published key, decoded values and exact renders agree to 1e-6 relative."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diffvox import DiffVox
from diffvox.presets import load_dataset
from diffvox.realtime import render_exact

DATA = Path(__file__).parent / "data"
CASES = [("medleydb", r) for r in (0, 3, 6, 41)] + [("internal", r) for r in (1, 200)]


@pytest.fixture(scope="module")
def snapshot():
    return dict(np.load(DATA / "chain_snapshot.npz"))


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("name,row", CASES)
def test_float64_render_and_gradient_unchanged(snapshot, name, row):
    tag = f"{name}_{row}"
    preset = load_dataset(name).preset(row)
    x = torch.from_numpy(snapshot["dry"]).double()
    model = preset.to_chain().double().train()
    y = model(x.view(1, 1, -1))
    loss = y.square().mean() + model.regulariser()
    loss.backward()
    assert rel(y.detach()[0].numpy(), snapshot[f"wet_{tag}"]) < 1e-6
    assert float(loss.detach()) == pytest.approx(float(snapshot[f"loss_{tag}"]), rel=1e-6)
    grad = model.logits.grad[0].numpy()
    ref = snapshot[f"grad_{tag}"]
    assert np.abs(grad - ref).max() <= 1e-6 * np.abs(ref).max()


@pytest.mark.parametrize("name,row", [("medleydb", 3), ("medleydb", 41), ("internal", 200)])
def test_float32_stages_unchanged(snapshot, name, row):
    """float32, stage by stage: the same to float32 rounding (the delay's stage is now one
    convolution with both pans' response instead of two)."""
    tag = f"{name}_{row}"
    model = load_dataset(name).preset(row).to_chain().eval()
    x = torch.from_numpy(snapshot["dry"]).view(1, 1, -1)
    with torch.no_grad():
        stages = model.stages(x)
        assert set(stages) == {k.split("_")[1] for k in snapshot if k.startswith("stage_") and k.endswith(tag)}
        # float32 FFT convolutions round relative to their input's scale (the compressor's
        # output), not the output's: a quiet delay (gain 1e-8) is compared on that scale
        scale = np.abs(snapshot[f"stage_comp_{tag}"]).max()
        for stage, value in stages.items():
            ref = snapshot[f"stage_{stage}_{tag}"]
            assert np.abs(value[0].numpy() - ref).max() < 1e-5 * max(scale, np.abs(ref).max()), stage


@pytest.mark.parametrize("name,row", CASES)
def test_decoded_and_exact_unchanged(snapshot, name, row):
    tag = f"{name}_{row}"
    decoded = json.loads((DATA / "chain_snapshot_decoded.json").read_text())[tag]
    preset = load_dataset(name).preset(row)
    ours = preset.decode()

    def compare(a, b, path=""):
        if isinstance(b, dict):
            assert set(a) == set(b), path
            for k in b:
                compare(a[k], b[k], f"{path}.{k}")
        elif isinstance(b, list):
            assert len(a) == len(b), path
            for i, (u, v) in enumerate(zip(a, b)):
                compare(u, v, f"{path}[{i}]")
        elif isinstance(b, str):
            assert a == b, path
        else:
            assert a == pytest.approx(b, rel=1e-6, abs=1e-12), path

    compare(ours, decoded)
    if f"exact_{tag}" in snapshot:
        exact = render_exact(preset, snapshot["dry"], clip_q=0.707)
        assert rel(exact, snapshot[f"exact_{tag}"]) < 1e-6


def test_batch_equals_one_by_one(snapshot):
    """All cases in one chain (one call) give each preset's own render."""
    presets = [load_dataset(n).preset(r) for n, r in CASES]
    chain = DiffVox(presets=len(presets)).double().eval()
    chain.load(np.stack([p.logits for p in presets]), presets[0].layout)
    x = torch.from_numpy(snapshot["dry"]).double().view(1, 1, -1)
    with torch.no_grad():
        y = chain(x)
    assert y.shape == (len(CASES), 2, x.shape[-1])
    for i, (name, row) in enumerate(CASES):
        assert rel(y[i].numpy(), snapshot[f"wet_{name}_{row}"]) < 1e-6
