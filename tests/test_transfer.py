"""Style transfer with the preset prior: encoders against numpy/scipy computations, the prior
against scipy and the published gaussian.npz, the likelihood against its formula, gradients
against finite differences, chunking, and the command line's errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import scipy.stats
import soundfile as sf
import torch

from diffvox.cli import main
from diffvox.transfer import (COS_MARGIN, MFCC, MIR, PresetPrior, Problem, Renderer, active,
                              evaluation_chunks, ito, log_likelihood, mid_side, split_chunks)
from diffvox.transfer.core import TooFewChunks, nearest_parameters, parameter_mse

SR = 44100
N_FFT, HOP = 2048, 1024


# --- independent numpy references ---------------------------------------------------------------
def np_frames(x, n=N_FFT, hop=HOP):
    count = 1 + (len(x) - n) // hop
    return np.stack([x[k * hop: k * hop + n] for k in range(count)])


def np_mid_side(x):
    return np.stack([(x[0] + x[1]) / np.sqrt(2), (x[0] - x[1]) / np.sqrt(2)])


def np_mag(x):
    window = scipy.signal.get_window("hann", N_FFT)  # periodic
    return np.abs(np.fft.rfft(np_frames(x) * window, axis=1)).T  # (K, frames)


def np_htk_fbank(n_freqs=N_FFT // 2 + 1, n_mels=128, sr=SR):
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    corners = hz(np.linspace(mel(0.0), mel(sr // 2), n_mels + 2))
    bins = np.linspace(0, sr // 2, n_freqs)
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        lo, c, hi = corners[m: m + 3]
        for k, f in enumerate(bins):
            if lo < f <= c:
                fb[k, m] = (f - lo) / (c - lo)
            elif c < f < hi:
                fb[k, m] = (hi - f) / (hi - c)
    return fb


def np_moments(rows):
    """rows (F, frames) -> (4 F,) mean, population std, skewness, excess kurtosis per row."""
    out = []
    for r in rows:
        out += [r.mean(), r.std(), scipy.stats.skew(r, bias=True), scipy.stats.kurtosis(r, fisher=True, bias=True)]
    return np.array(out)


def np_mfcc_embedding(x):
    ms = np_mid_side(x)
    fb = np_htk_fbank()
    db = np.stack([10 * np.log10(np.maximum(fb.T @ np_mag(c) ** 2, 1e-10)) for c in ms])
    db = np.maximum(db, db.max() - 80)  # the floor: 80 dB below the item's maximum over both channels
    emb = [np_moments(scipy.fft.dct(d, type=2, norm="ortho", axis=0)[:25]) for d in db]
    return [e / np.linalg.norm(e) for e in emb]


def np_mir_embedding(x):
    eps = 1e-8
    out = []
    for c in np_mid_side(x):
        fr = np_frames(c)
        rms = np.sqrt((fr**2).mean(1))
        log_rms = np.log(rms + eps)
        crest = np.log(np.abs(fr).max(1) + eps) - log_rms
        spread = np.log(np.abs(fr) + eps).mean(1) - log_rms
        s = np_mag(c)
        f = np.arange(s.shape[0]) / (s.shape[0] - 1)
        p = s / np.maximum(s.sum(0), eps)
        cen = (p * f[:, None]).sum(0)
        bw = 0.5 * np.log((p * (f[:, None] - cen - eps) ** 2).sum(0) + eps)
        pw = np.maximum(s, eps) ** 2
        flat = np.log(pw).mean(0) - np.log(pw.mean(0))
        e = np_moments(np.stack([log_rms, crest, spread, np.log(cen + eps), bw, flat]))
        out.append(e / np.linalg.norm(e))
    return out


def noise(seed, n=N_FFT + 9 * HOP, channels=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, n)) * np.linspace(0.2, 1.0, n)  # varying level
    return x + 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / SR)


# --- encoders -------------------------------------------------------------------------------------
def test_mid_side_is_orthonormal():
    x = torch.from_numpy(noise(0))[None]
    ms = mid_side(x)
    torch.testing.assert_close(ms.square().sum(), x.square().sum())
    np.testing.assert_allclose(ms[0].numpy(), np_mid_side(x[0].numpy()), atol=1e-12)


def test_mfcc_matches_numpy_scipy():
    x = np.stack([noise(1), noise(2)])
    x[1, 1] *= 1e-6  # a quiet side: the 80 dB floor is taken over both channels
    mid, side = MFCC()(torch.from_numpy(x))
    assert mid.shape == (2, 100) and side.shape == (2, 100)
    for b in range(2):
        ref_mid, ref_side = np_mfcc_embedding(x[b])
        np.testing.assert_allclose(mid[b].numpy(), ref_mid, atol=1e-9)
        np.testing.assert_allclose(side[b].numpy(), ref_side, atol=1e-9)


def test_mfcc_top_db_floor_acts_on_quiet_channel():
    """A side 200 dB below the mid sits on the floor: every side band is max - 80 dB, so its
    MFCCs are constant in time and only c0 is nonzero."""
    x = noise(3)
    x[1] = x[0] * (1 + 1e-10)
    enc = MFCC()
    db_side = None
    ms = mid_side(torch.from_numpy(x)[None])
    from diffvox.transfer.encoders import spectrum

    mel = torch.einsum("bcft,fm->bcmt", spectrum(ms, N_FFT, HOP, 2.0), enc.fbank)
    db = 10 * torch.log10(mel.clamp_min(1e-10))
    db_side = torch.maximum(db, db.amax() - 80)[0, 1]
    assert bool((db_side == db.amax() - 80).all())


def test_mir_known_signals():
    """A bin-centred sine: RMS A / sqrt 2, crest sqrt 2, centroid at its bin, bandwidth of the
    Hann window's three bins (weights 1/4, 1/2, 1/4); a constant: spread and crest 0."""
    from diffvox.transfer.encoders import EPS

    n, k0, amp = N_FFT + 4 * HOP, 64, 0.5
    t = np.arange(n)
    sine = amp * np.sin(2 * np.pi * k0 * t / N_FFT)
    x = torch.from_numpy(np.stack([sine, sine]) / np.sqrt(2))[None]  # mid = sine, side = 0
    enc = MIR()
    feats = enc.features(mid_side(x))[0, 0].reshape(6, 4)  # (feature, moment)
    k = N_FFT // 2
    expected = {0: math.log(amp / math.sqrt(2) + EPS), 1: math.log(amp + EPS) - math.log(amp / math.sqrt(2) + EPS),
                3: math.log(k0 / k + EPS), 4: 0.5 * math.log(0.5 * (1 / k) ** 2 + EPS)}
    for row, value in expected.items():
        assert abs(float(feats[row, 0]) - value) < 1e-6, (row, float(feats[row, 0]), value)
        assert float(feats[row, 1]) < 1e-6  # stationary: no spread over time
    const = torch.full((1, 2, n), 0.25, dtype=torch.float64)
    cf = enc.features(mid_side(const))[0, 0].reshape(6, 4)
    assert abs(float(cf[1, 0])) < 1e-7 and abs(float(cf[2, 0])) < 1e-7


def test_mir_matches_numpy():
    x = np.stack([noise(4), noise(5)])
    mid, side = MIR()(torch.from_numpy(x))
    assert mid.shape == (2, 24)
    for b in range(2):
        ref_mid, ref_side = np_mir_embedding(x[b])
        np.testing.assert_allclose(mid[b].numpy(), ref_mid, atol=1e-9)
        np.testing.assert_allclose(side[b].numpy(), ref_side, atol=1e-9)


@pytest.mark.parametrize("encoder", [MFCC, MIR])
def test_encoder_gradients_match_finite_differences(encoder):
    torch.manual_seed(0)
    x = torch.from_numpy(noise(6, n=N_FFT + 3 * HOP))[None].requires_grad_(True)
    enc = encoder()
    w = torch.randn(2, 100 if encoder is MFCC else 24, dtype=torch.float64)

    def f(v):
        mid, side = enc(v)
        return (mid * w[0]).sum() + (side * w[1]).sum()

    f(x).backward()
    g = x.grad
    assert bool(torch.isfinite(g).all())
    d = torch.randn_like(x)
    h = 1e-6
    with torch.no_grad():
        fd = (f(x + h * d) - f(x - h * d)) / (2 * h)
    assert abs(float((g * d).sum()) - float(fd)) <= 1e-5 * max(1.0, abs(float(fd)))


def test_encoders_work_in_float32_batched():
    x = torch.from_numpy(noise(7)).float()[None].expand(3, -1, -1)
    for enc in (MFCC(), MIR()):
        mid, side = enc(x)
        assert mid.dtype == torch.float32 and mid.shape[0] == 3
        torch.testing.assert_close(mid.norm(dim=1), torch.ones(3))


# --- prior --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prior():
    return PresetPrior.internal()


def test_prior_reproduces_published_gaussian(prior):
    published = PresetPrior.published()
    assert prior.rows.shape == (365, 130)
    # the published mean is the float32 mean of the float32 rows, bit for bit; ours (float64)
    # differs from it by float32 rounding alone (measured 7.9e-7)
    assert np.array_equal(prior.rows.astype(np.float32).mean(0), published["mean"])
    assert np.abs(prior.mean - published["mean"]).max() < 2e-6
    err = np.abs(prior.cov - published["cov"]).max()
    assert err < 1e-5, err  # measured 3.6e-6: the published covariance was computed in float32
    biased = np.cov(prior.rows, rowvar=False, bias=True)
    assert np.abs(biased - published["cov"]).max() > 100 * err  # ddof=1 matters


def test_prior_log_density_matches_scipy(prior):
    x = prior.sample(5, seed=1)
    ref = scipy.stats.multivariate_normal(prior.mean, prior.cov).logpdf(x)
    np.testing.assert_allclose(prior.log_prob(x), ref, rtol=1e-10)
    t = prior.log_prob(torch.from_numpy(x))
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-10)
    # gradient: -C^-1 (x - mu)
    v = torch.from_numpy(x[0]).requires_grad_(True)
    prior.log_prob(v).backward()
    np.testing.assert_allclose(v.grad.numpy(), -np.linalg.solve(prior.cov, x[0] - prior.mean), rtol=1e-8, atol=1e-8)


def test_prior_samples_have_its_moments(prior):
    s = prior.sample(20000, seed=0)
    scale = np.sqrt(np.diag(prior.cov))
    assert np.abs((s.mean(0) - prior.mean) / scale).max() < 0.05
    assert np.abs(np.cov(s, rowvar=False) - prior.cov).max() / np.abs(prior.cov).max() < 0.05


def test_parameter_baselines(prior):
    target = prior.rows[17] + 1e-3
    assert nearest_parameters(prior, target) == 17
    assert parameter_mse(prior.rows[17], target) == pytest.approx(1e-6)


# --- likelihood ---------------------------------------------------------------------------------
def _unit(rng, n, d):
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_log_likelihood_matches_formula():
    rng = np.random.default_rng(0)
    pred = [_unit(rng, 3, 10), _unit(rng, 3, 10)]
    ref = [_unit(rng, 4, 10), _unit(rng, 4, 10)]
    expected = 0.0
    for p, r in zip(pred, ref):
        theta = np.array([[np.arccos(np.dot(p[j], r[i])) for i in range(4)] for j in range(3)])
        s = np.sqrt(np.mean(theta**2))
        expected += np.mean(-0.5 * (theta / s) ** 2 - 0.5 * np.log(2 * np.pi) - np.log(s))
    ll, stds = log_likelihood([torch.from_numpy(p) for p in pred], [torch.from_numpy(r) for r in ref])
    assert float(ll) == pytest.approx(expected, rel=1e-12)
    # with the adaptive std the quadratic term averages to -1/2: ll = sum(-1/2 - log(2 pi)/2 - log s)
    assert float(ll) == pytest.approx(sum(-0.5 - 0.5 * math.log(2 * math.pi) - math.log(float(s)) for s in stds))


def test_log_likelihood_gradient_and_clamp():
    rng = np.random.default_rng(1)
    ref = [torch.from_numpy(_unit(rng, 4, 8)) for _ in range(2)]
    pred = [torch.from_numpy(_unit(rng, 3, 8)).requires_grad_(True) for _ in range(2)]
    assert torch.autograd.gradcheck(lambda a, b: log_likelihood([a, b], ref)[0], pred)
    # a prediction equal to a reference: the clamp keeps the gradient finite
    same = [ref[0][:2].clone().requires_grad_(True), ref[1][:2].clone().requires_grad_(True)]
    ll, stds = log_likelihood(same, ref)
    ll.backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in same)
    assert float(torch.arccos(torch.tensor(1 - COS_MARGIN, dtype=torch.float64))) == pytest.approx(
        math.sqrt(2 * COS_MARGIN), rel=1e-6)


# --- chunks -------------------------------------------------------------------------------------
def test_activity_rule_and_evaluation_split():
    size = SR // 2
    level = [0.5, 0.0005, 0.5, 0.5, 0.002, 0.0]  # -6, -66, -6, -6, -54 dB, silence
    t = np.arange(size)
    sig = np.concatenate([a * np.sin(2 * np.pi * 200 * t / SR) for a in level]).astype(np.float32)
    chunks = split_chunks(np.stack([sig, sig]), size)
    assert chunks.shape == (6, 2, size)
    np.testing.assert_array_equal(active(chunks), [True, False, True, True, True, False])
    dry = np.arange(len(sig), dtype=np.float32)  # labels the samples
    ref, query = evaluation_chunks(dry, np.stack([sig, sig]), seconds=0.5)
    # active chunks 0, 2, 3, 4: references 0 and 3 (even positions), queries 2 and 4
    np.testing.assert_array_equal(ref[:, 0, 0], [sig[0], sig[3 * size]])
    np.testing.assert_array_equal(query[:, 0, 0], [2 * size, 4 * size])
    with pytest.raises(TooFewChunks, match="1 active chunk"):
        evaluation_chunks(dry[: 2 * size], np.stack([sig, sig])[:, : 2 * size], seconds=0.5)


def test_ito_objective_gradient_matches_finite_differences(prior):
    """The whole objective (render through the chain, MFCC encoder, likelihood, prior), in float64,
    against central differences along one random direction of the logits."""
    rng = np.random.default_rng(2)
    dry = 0.1 * rng.standard_normal((2, 1, 8192))
    wet = 0.1 * rng.standard_normal((2, 2, 8192))
    problem = Problem.make(dry, wet, "mfcc", prior, dtype=torch.float64)
    x = torch.as_tensor(prior.rows[3], dtype=torch.float64).requires_grad_(True)

    def loss(v):
        return -problem.log_likelihood(v)[0] - 0.1 * prior.log_prob(v)

    loss(x).backward()
    assert bool(torch.isfinite(x.grad).all())
    d = torch.as_tensor(rng.standard_normal(130))
    h = 1e-5
    with torch.no_grad():
        fd = (loss(x + h * d) - loss(x - h * d)) / (2 * h)
    assert abs(float(x.grad @ d) - float(fd)) < 1e-6 * max(1.0, abs(float(fd))), (float(x.grad @ d), float(fd))


# --- command line --------------------------------------------------------------------------------
def _write(path, audio, sr=SR):
    sf.write(path, np.asarray(audio, np.float32).T, sr, subtype="FLOAT")
    return str(path)


def _voice(seconds, seed=0, channels=1):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    return (0.1 * rng.standard_normal((channels, n)) * (1 + np.sin(2 * np.pi * 3 * np.arange(n) / SR))).astype(np.float32)


@pytest.mark.parametrize("case, message", [
    ("short", "lasts 0.50 s: style transfer needs at least 1 chunk of 1 s"),
    ("inactive", "has 0 active chunks of 1 s out of 2"),
    ("silent", "is silent"),
    ("rate", "is sampled at 22050 Hz"),
    ("alpha", "--alpha: alpha must be a number >= 0"),
])
def test_cli_errors_are_one_line_and_leave_no_files(tmp_path, capsys, case, message):
    dry = _write(tmp_path / "dry.wav", _voice(2))
    ref = _write(tmp_path / "ref.wav", _voice(2, 1, 2))
    extra = []
    if case == "short":
        ref = _write(tmp_path / "ref.wav", _voice(0.5, 1, 2))
    elif case == "inactive":
        ref = _write(tmp_path / "ref.wav", _voice(2, 1, 2) * 1e-4)
    elif case == "silent":
        dry = _write(tmp_path / "dry.wav", np.zeros((1, 2 * SR)))
    elif case == "rate":
        ref = _write(tmp_path / "ref.wav", _voice(2, 1, 2), sr=22050)
    elif case == "alpha":
        extra = ["--alpha", "-1"]
    out = tmp_path / "out"
    code = main(["transfer", dry, ref, "--out", str(out), "--chunk-seconds", "1", "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_cli_runs_resumes_and_does_not_clobber(tmp_path, capsys):
    dry = _write(tmp_path / "dry.wav", _voice(2.2))
    ref = _write(tmp_path / "ref.wav", _voice(2.2, 1, 2))
    out = tmp_path / "out"
    args = ["transfer", dry, ref, "--out", str(out), "--chunk-seconds", "1", "--quiet",
            "--encoder", "mir", "--alpha", "0.1"]
    assert main([*args, "--steps", "1", "--checkpoint-every", "1"]) == 0
    for name in ("preset.json", "render.wav", "history.csv", "settings.json", "checkpoint.pt"):
        assert (out / name).exists(), name
    render, sr = sf.read(out / "render.wav", always_2d=True)
    assert render.shape == (int(2.2 * SR), 2) and np.isfinite(render).all()
    assert main([*args, "--steps", "1"]) == 2
    assert "already holds a transfer run" in capsys.readouterr().err
    # a killed run: drop the finished outputs, keep the checkpoint, continue to 2 steps
    (out / "preset.json").unlink()
    assert main([*args, "--steps", "2", "--resume"]) == 0
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 and history[2].startswith("1,")
    assert main([*args, "--steps", "3", "--resume"]) == 2  # a finished run is not continued
    assert "is finished" in capsys.readouterr().err
    (out / "preset.json").unlink()
    assert main([*args[:-2], "--alpha", "1", "--steps", "3", "--resume"]) == 2
    assert "other settings (alpha=0.1, now 1.0)" in capsys.readouterr().err


def test_evaluation_refuses_a_demo_shorter_than_two_chunks():
    from diffvox.transfer.evaluation import check_length, summarise

    with pytest.raises(ValueError, match=r"lasts 21\.00 s: the evaluation needs at least 2 chunks of 11 s.*--quick"):
        check_length(np.zeros(21 * SR, np.float32), 11.0)
    check_length(np.zeros(22 * SR, np.float32), 11.0)
    records = [{"methods": {"mean": {"param_mse": 1.0, "mss_lr": 2, "mss_ms": 3, "mldr_lr": 4, "mldr_ms": 5}}},
               {"methods": {"mean": {"param_mse": 3.0, "mss_lr": 2, "mss_ms": 3, "mldr_lr": 4, "mldr_ms": 7}}}]
    assert summarise(records, ["mean", "oracle"]) == {"mean": {"n": 2, "param_mse": 2.0, "mss_lr": 2.0,
                                                               "mss_ms": 3.0, "mldr_lr": 4.0, "mldr_ms": 6.0}}


def test_nearest_embedding_finds_the_preset_that_made_the_reference(prior):
    """Query = the dry chunks, reference = the same chunks through training preset 5: among
    presets 3, 5 and 9 the likeliest render is preset 5's (its angles are the clamp's floor)."""
    from diffvox.transfer import nearest_embedding

    rng = np.random.default_rng(3)
    dry = (0.1 * rng.standard_normal((2, 1, 4 * HOP + N_FFT))).astype(np.float32)
    renderer = Renderer(prior)
    with torch.no_grad():
        wet = renderer(torch.as_tensor(prior.rows[5:6]), torch.from_numpy(dry))[0].numpy()
    problem = Problem.make(dry, wet, "mfcc", prior, renderer=renderer)
    index, scores = nearest_embedding(problem, prior.rows[[3, 5, 9]], batch=2)
    assert index == 1 and scores[1] > scores[0] + 1 and scores[1] > scores[2] + 1


def test_transfer_mean_and_bad_method(prior):
    from diffvox.transfer import transfer

    preset = transfer(np.zeros(10), np.zeros((2, 10)), method="mean", prior=prior)
    np.testing.assert_array_equal(preset.masked(prior.mask), prior.mean)
    assert not preset.logits[~prior.mask].any()
    with pytest.raises(ValueError, match="unknown method 'sgd'"):
        transfer(np.zeros(10), np.zeros((2, 10)), method="sgd", prior=prior)


def test_command_choices_are_the_library_s():
    """The command line writes its choices out (its --help imports no torch): they must be the
    library's."""
    from diffvox.transfer import command, core, encoders

    assert command.METHODS == core.METHODS
    assert command.ENCODERS == tuple(encoders.ENCODERS)
    assert command.CHUNK_SECONDS == core.CHUNK_SECONDS
