"""The chain against the original implementation's renders and decoded values, and its
behaviour on every logit (property test)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffvox import DiffVox
from diffvox.presets import Preset, load_dataset

# relative RMS tolerances per stage (issue: EQ and compressor 1e-3, delay 2e-3, reverb 2e-2)
STAGES = {"peq": ("peq", 1e-3), "comp": ("comp", 1e-3), "delay": ("delay", 2e-3),
          "fdn": ("reverb", 2e-2)}


def rel_rms(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(((a - b) ** 2).mean() / (b**2).mean()))


@pytest.fixture(scope="module")
def medleydb():
    return load_dataset("medleydb")


@pytest.fixture(scope="module")
def renders(reference_dir, medleydb):
    dry = torch.from_numpy(np.load(reference_dir / "dry.npy")).view(1, 1, -1)
    out = {}
    with torch.no_grad():
        for i in range(5):
            stages = medleydb.preset(i).to_chain().eval().stages(dry)
            out[i] = {k: v[0].numpy() for k, v in stages.items()}
    return out


@pytest.mark.parametrize("row", range(5))
def test_wet_matches_original(reference_dir, renders, row):
    ref = np.load(reference_dir / "wet" / f"wet_medleydb_{row}.npy")
    assert renders[row]["wet"].shape == ref.shape == (2, 264600)
    assert rel_rms(renders[row]["wet"], ref) <= 1e-3


@pytest.mark.parametrize("row", range(5))
@pytest.mark.parametrize("stage", STAGES)
def test_stage_matches_original(reference_dir, renders, row, stage):
    ours_key, tol = STAGES[stage]
    ref = np.load(reference_dir / "stages" / f"{stage}_out_medleydb_{row}.npy")
    ours = renders[row][ours_key][..., : ref.shape[-1]]
    assert ours.shape == ref.shape
    assert rel_rms(ours, ref) <= tol


def test_routing_identities(renders):
    s = renders[0]
    np.testing.assert_allclose(s["wet"], s["direct"] + s["delay"] + s["reverb"], atol=1e-6)
    gains = np.sqrt(2) * np.array([[np.cos(np.pi / 4)], [np.sin(np.pi / 4)]])
    assert s["direct"].shape == (2, 264600)
    # the direct path is the compressor output panned by constant-power gains
    ratio = s["direct"] / np.where(np.abs(s["comp"]) > 1e-3, s["comp"], np.nan)
    g = np.nanmedian(ratio, axis=1)
    assert abs(g[0] ** 2 + g[1] ** 2 - 2) < 1e-5 and gains.shape == (2, 1)


def _close(ours, theirs, what, rtol=1e-5):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float).reshape(np.shape(ours))
    err = np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30)
    assert err <= rtol, f"{what}: relative error {err:.3g}"


@pytest.mark.parametrize("row", range(5))
def test_decoded_values_match_original(reference_dir, medleydb, row):
    ref = json.loads((reference_dir / "presets_decoded.json").read_text())["presets"][f"medleydb_{row}"]
    d = medleydb.preset(row).decode()
    for j, (ours, theirs) in enumerate(zip(d["eq"], ref["peq"], strict=True)):
        for key in ("freq_hz", "Q", "gain_db"):
            if key in theirs:
                _close(ours[key], theirs[key], f"eq {j} {key}")
    c, C = d["compressor"], ref["compressor"]
    for key in ("cmp_th_db", "exp_th_db", "make_up_db", "cmp_ratio", "exp_ratio", "avg_coef",
                "at_coef", "rt_coef", "lookahead_ms"):
        _close(c[key], C[key], f"compressor {key}")
    # times: the reference converts coefficients in float32 (log(1 - c) loses digits for
    # c ~ 1e-6); ours must be the exact inverse of its coefficients
    for ms_key, coef_key in (("attack_ms", "at_coef"), ("release_ms", "rt_coef")):
        exact = -2200.0 / (44100 * np.log1p(-np.float64(C[coef_key])))
        _close(c[ms_key], exact, f"compressor {ms_key}")
    s = ref["send_and_sum"]
    _close(d["send_delay_to_reverb"], s["sends_0_delay_to_fdn"], "send")
    _close(d["direct_pan"]["pan"], s["direct_pan"]["pan_01"], "direct pan")
    _close(d["direct_pan"]["pan_percent"], s["direct_pan"]["pan_percent"], "direct pan %", 1e-4)
    D, dd = ref["delay"], d["delay"]
    for key in ("delay_ms", "feedback", "gain"):
        _close(dd[key], D[key], f"delay {key}")
    _close(dd["lowpass"]["freq_hz"], D["eq_lowpass"]["freq_hz"], "delay low-pass freq")
    _close(dd["lowpass"]["Q"], D["eq_lowpass"]["Q"], "delay low-pass Q")
    _close(dd["odd_pan"]["pan"], D["odd_pan"]["pan_01"], "odd pan")
    _close(dd["even_pan"]["pan"], D["even_pan"]["pan_01"], "even pan")
    F, r = ref["fdn"], d["reverb"]
    for ours_key, key in (("b", "b"), ("c", "c"), ("U", "U"), ("decay_gamma", "gamma")):
        _close(r[ours_key], F[key], f"reverb {key}")
    assert r["delays_samples"] == F["delays_samples"]
    for j, (ours, theirs) in enumerate(zip(r["eq"], F["eq"], strict=True)):
        for key in ("freq_hz", "Q", "gain_db"):
            if key in theirs:
                _close(ours[key], theirs[key], f"reverb eq {j} {key}")


def test_json_round_trip_is_lossless(tmp_path, medleydb):
    preset = medleydb.preset(3)
    path = preset.save(tmp_path / "p.json")
    again = Preset.load(path)
    np.testing.assert_array_equal(again.logits, preset.logits)
    data = json.loads(path.read_text())
    assert data["compressor"]["release_ms"] > 0 and len(data["reverb"]["t60_s"]) == 49


@pytest.mark.parametrize("mutate,message", [
    (lambda d: (d.pop("logits"), d["eq"][0].pop("freq_hz")), r"eq\[0\]\.freq_hz is missing"),
    (lambda d: d["logits"].pop("6.params.cmp_th"), "miss"),
    (lambda d: d["logits"].__setitem__("7.effects.1.params.b", [[0.0, 1.0]]), "shape"),
    (lambda d: d.__setitem__("format", "other"), "not a diffvox preset"),
])
def test_bad_json_gets_a_clear_error(medleydb, mutate, message):
    data = medleydb.preset(0).to_json()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        Preset.from_json(data)


def test_masked_form_keeps_the_sound(medleydb):
    """The 21 FDN logits the mask drops (on and below the diagonal) do not change the output."""
    preset = medleydb.preset(1)
    back = Preset.from_masked(preset.masked(medleydb.feature_mask), medleydb.feature_mask,
                              medleydb.layout)
    assert medleydb.feature_mask.sum() == 130
    full, reduced = preset.to_chain(), back.to_chain()
    torch.testing.assert_close(full.decode()[full.reverb]["U"], reduced.decode()[reduced.reverb]["U"])
    assert not np.array_equal(back.logits, preset.logits)  # they do differ in the dropped entries


def test_float32_agrees_with_float64_on_both_datasets():
    """Numerics by construction: a spread of presets from both datasets render the same in
    float32 and float64 (the chain's own precision, independent of the five references)."""
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(22050) * 0.1).view(1, 1, -1)
    for name, rows in (("internal", (0, 97, 201, 384)), ("medleydb", (11, 42, 69))):
        ds = load_dataset(name)
        for row in rows:
            with torch.no_grad():
                y32 = ds.preset(row).to_chain().eval()(x.float())
                y64 = ds.preset(row).to_chain().double().eval()(x.double())
            assert rel_rms(y32.double(), y64) <= 1e-3, f"{name}:{row}"


logit = st.floats(-30.0, 30.0, allow_nan=False)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(logit, min_size=151, max_size=151), st.booleans())
def test_any_logits_give_finite_output_and_gradients(values, training):
    ds = load_dataset("medleydb")
    preset = Preset(np.array(values), ds.layout)
    model = preset.to_chain()
    model.train(training)
    x = torch.randn(1, 1, 4410, generator=torch.Generator().manual_seed(0)) * 0.3
    y = model(x)
    assert torch.isfinite(y).all()
    (y.square().mean() + model.regulariser()).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


def test_variants_and_input_checks():
    x = torch.randn(2, 1, 2205) * 0.1
    for kwargs in ({"delay": False}, {"reverb": False}, {"delay": False, "reverb": False}):
        model = DiffVox(**kwargs).eval()
        stages = model.stages(x)
        assert stages["wet"].shape == (2, 2, 2205)
        parts = stages["direct"] + stages.get("delay", 0) + stages.get("reverb", 0)
        torch.testing.assert_close(stages["wet"], parts)
    with pytest.raises(ValueError, match=r"\(N, 1, T\)"):
        DiffVox()(torch.randn(2, 2205))


def test_surrogate_is_straight_through():
    """Training mode: the delay's value is the exact one, its gradient comes from the damped
    surrogate, and the regulariser is (1 - eta)^2."""
    x = torch.randn(1, 1, 8820, generator=torch.Generator().manual_seed(1)) * 0.1
    model = DiffVox(reverb=False)
    with torch.no_grad():
        exact = model.eval()(x)
    model.train()
    y = model(x)
    torch.testing.assert_close(y, exact, rtol=1e-5, atol=1e-6)
    y.square().sum().backward()
    delay = model.keys.index("7.effects.0.params.parametrizations.delay.original")
    assert model.logits.grad[0, model.slices[delay]].abs().item() > 0
    eta = torch.exp(-torch.nn.functional.softplus(model.eta))[0]
    torch.testing.assert_close(model.regulariser(), (1 - eta) ** 2)
    assert DiffVox(surrogate=False).train().regulariser() == 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_render_and_gradients_match_cpu(medleydb):
    x = torch.randn(2, 1, 44100, generator=torch.Generator().manual_seed(3)) * 0.1
    outputs, grads = [], []
    for device in ("cpu", "cuda"):
        model = medleydb.preset(4).to_chain().to(device).train()
        y = model(x.to(device))
        (y.square().mean() + model.regulariser()).backward()
        outputs.append(y.detach().cpu())
        grads.append(torch.cat([p.grad.reshape(-1).cpu() for p in model.parameters() if p.grad is not None]))
    assert rel_rms(outputs[1], outputs[0]) <= 1e-4
    assert float((grads[1] - grads[0]).norm() / grads[0].norm()) <= 1e-3


def test_chain_layout_is_the_published_layout(reference_dir):
    from diffvox.presets import chain_layout
    for name in ("internal", "medleydb"):
        ds = load_dataset(name)
        assert ds.layout == chain_layout()


@pytest.mark.parametrize("options", [{"delay": False}, {"reverb": False}, {"delay": False, "reverb": False}])
def test_variant_presets_round_trip(options, tmp_path):
    full = load_dataset("medleydb").preset(2)
    model = full.to_chain(DiffVox(**options))
    preset = Preset.from_chain(model)
    assert preset.chain == options
    back = Preset.load(preset.save(tmp_path / "p.json"))
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(20000).astype(np.float32)).view(1, 1, -1)
    with torch.no_grad():
        np.testing.assert_array_equal(back.to_chain().eval()(x).numpy(), model.eval()(x).numpy())
    bad = json.loads((tmp_path / "p.json").read_text())
    bad["chain"] = {"eq": False}
    with pytest.raises(ValueError, match="chain"):
        Preset.from_json(bad)
