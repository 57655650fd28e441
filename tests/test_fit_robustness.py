"""Fits that finish: the surrogate's gradient stays finite where eta^j underflows, a failed step
is skipped without touching the parameters, and repeated failures end the fit with a result."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import importlib
from diffvox.audio import demo_vocal, read_audio
from diffvox.chain import DiffVox
from diffvox.functional.delay import surrogate_echo_kernel
from diffvox.losses import DiffVoxLoss
from diffvox.matching import MatchConfig, chunk_pair, fit, prepare_pair
from diffvox.presets import load_dataset

TINY = dict(lr=0.05, batch=2, chunk_seconds=1.0, overlap_seconds=0.25, checkpoint_every=50)
fit_module = importlib.import_module("diffvox.matching.fit")  # the module, not the function
STATE = Path(__file__).parent / "data" / "nan_step_state.pt"


@pytest.mark.parametrize("log_eta", [-0.00233, -0.01, -1e-4])
def test_surrogate_gradient_is_finite_and_exact_where_eta_power_underflows(log_eta):
    """eta = exp(log_eta) = 0.9977 puts eta^j below float32's range past bin ~44,000 of 88,201;
    the float32 gradient still equals the float64 one."""
    n = 176400
    grads = {}
    for dtype in (torch.float32, torch.float64):
        le = torch.tensor([log_eta], dtype=dtype, requires_grad=True)
        d = torch.tensor([12345.25], dtype=dtype, requires_grad=True)
        weights = torch.cos(torch.arange(n, dtype=dtype) * 0.0123)
        (surrogate_echo_kernel(d, le, n) * weights).sum().backward()
        grads[dtype] = (le.grad.item(), d.grad.item())
    for a, b in zip(grads[torch.float32], grads[torch.float64]):
        assert math.isfinite(a)
        assert a == pytest.approx(b, rel=1e-3, abs=1e-6)


def test_surrogate_gradient_matches_finite_differences():
    n, h = 44100, 1e-6
    d = torch.tensor([4410.3], dtype=torch.float64)
    weights = torch.sin(torch.arange(n, dtype=torch.float64) * 0.01)
    f = lambda le: float((surrogate_echo_kernel(d, torch.tensor([le], dtype=torch.float64), n)  # noqa: E731
                          * weights).sum())
    le = torch.tensor([-0.003], dtype=torch.float64, requires_grad=True)
    (surrogate_echo_kernel(d, le, n) * weights).sum().backward()
    assert le.grad.item() == pytest.approx((f(-0.003 + h) - f(-0.003 - h)) / (2 * h), rel=1e-5)


def test_step_that_gave_nan_is_finite_now(reference_dir):
    """Regression: the issue's run (internal:1 rendered on the reference dry signal, 3 s chunks,
    1 s overlap, batch 4, seed 0, lr 0.01) in the state where eta's logit is -6.06; there the
    former ``torch.polar`` surrogate gave a NaN gradient of ``delay.eta`` (checked when the
    state was saved) while the loss and every other gradient were finite."""
    state = torch.load(STATE, weights_only=True)
    dry = read_audio(reference_dir / "dry.wav")[0]
    with torch.no_grad():
        wet = load_dataset("internal").preset(1).to_chain().eval()(
            torch.from_numpy(dry).view(1, 1, -1))[0].numpy()
    pair = prepare_pair(dry, wet)
    chunks = chunk_pair(pair.dry, pair.wet, 3.0, 1.0)
    index = state["index"]
    model = DiffVox().train()
    model.load_state_dict(state["model"])
    assert model.eta.item() == pytest.approx(-6.06)
    pred = model(torch.from_numpy(chunks.dry[index]))[..., chunks.loss_from:]
    target = torch.from_numpy(chunks.wet[index][..., chunks.loss_from:])
    terms = DiffVoxLoss()(pred, target, model.regulariser())
    terms["total"].backward()
    assert math.isfinite(float(terms["total"].detach()))
    assert fit_module.nonfinite_gradient(model) is None
    assert model.eta.grad.abs().item() > 0  # a real gradient, not a zeroed one


class _Faulty(DiffVoxLoss):
    """The loss, made non-finite on purpose at chosen call numbers (in value or in gradient)."""

    def __init__(self, bad_steps, how):
        super().__init__()
        self.bad, self.how, self.calls = set(bad_steps), how, 0

    def forward(self, pred, target, regulariser=None):
        terms = super().forward(pred, target, regulariser)
        if self.calls in self.bad:
            if self.how == "value":
                terms["total"] = terms["total"] * float("nan")
            else:  # finite value, NaN gradient: d sqrt(x)/dx at 0 is inf, times 0
                terms["total"] = terms["total"] + 0 * torch.sqrt(pred.sum() * 0)
        self.calls += 1
        return terms


class _Recording(DiffVox):
    snapshots: list = []

    def forward(self, x, start=0):
        _Recording.snapshots.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        return super().forward(x, start)


@pytest.fixture()
def pair():
    dry = demo_vocal(3.0)
    with torch.no_grad():
        wet = load_dataset("medleydb").preset(3).to_chain().eval()(
            torch.from_numpy(dry).view(1, 1, -1))[0].numpy()
    return dry, wet


@pytest.mark.parametrize("how", ["value", "gradient"])
def test_failed_step_is_skipped_and_logged(tmp_path, pair, monkeypatch, how):
    _Recording.snapshots = []
    monkeypatch.setattr(fit_module, "DiffVoxLoss", lambda: _Faulty({3}, how))
    monkeypatch.setattr(fit_module, "DiffVox", _Recording)
    adam_steps = []
    original_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step",
                        lambda self, *a, **k: adam_steps.append(1) or original_step(self, *a, **k))
    metrics = fit(*pair, tmp_path / "run", MatchConfig(steps=6, **TINY), progress=False)
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [r["skipped"] != "" for r in rows] == [False, False, False, True, False, False]
    assert ("loss is nan" if how == "value" else "non-finite gradient") in rows[3]["skipped"]
    assert len(adam_steps) == 5
    snaps = _Recording.snapshots[:6]
    for key in snaps[3]:
        assert torch.equal(snaps[3][key], snaps[4][key])  # the skipped step changed nothing
    assert any(not torch.equal(snaps[2][k], snaps[3][k]) for k in snaps[2])
    assert "stopped_early" not in metrics


def test_repeated_failures_stop_early_with_a_result(tmp_path, pair, monkeypatch):
    monkeypatch.setattr(fit_module, "DiffVoxLoss", lambda: _Faulty(range(4, 100), "value"))
    with pytest.warns(UserWarning, match="stopped early at step 8"):
        metrics = fit(*pair, tmp_path / "run", MatchConfig(steps=40, **TINY), progress=False)
    out = tmp_path / "run"
    assert metrics["stopped_early"]["step"] == 8 and "5 steps in a row" in metrics["stopped_early"]["reason"]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert (out / "preset.json").exists() and (out / "render.wav").exists()
    assert json.loads((out / "preset.json").read_text())["source"]["fit"]["best_step"] <= 3
    assert len(list(csv.DictReader((out / "history.csv").open()))) == 9


def test_cli_fit_at_a_high_learning_rate_ends_with_a_result(tmp_path, reference_dir, capsys):
    """The issue's command with --lr 0.3 --steps 40 (it once died with NaN at step 26): it ends
    with exit 0 and a result, stopped early or not."""
    from diffvox.cli import main

    wet = tmp_path / "wet.wav"
    assert main(["render", "internal:1", str(reference_dir / "dry.wav"), str(wet)]) == 0
    out = tmp_path / "fit"
    assert main(["match", str(reference_dir / "dry.wav"), str(wet), "--out", str(out), "--steps", "40",
                 "--chunk-seconds", "3", "--overlap-seconds", "1", "--batch", "4", "--seed", "0",
                 "--lr", "0.3", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("preset.json", "render.wav", "render_exact.wav", "history.csv"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 40 or "stopped_early" in metrics
    assert all(math.isfinite(v) for v in metrics["fitted"].values())
