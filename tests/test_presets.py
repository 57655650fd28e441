"""A preset file means what it says: physical values are the source of truth, checked field by
field against the effects' contracts (ranges from ../shared/presets/README.md)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.linalg
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffvox.chain import DiffVox
from diffvox.cli import main
from diffvox.contract import walk
from diffvox.functional.fdn import t60_seconds
from diffvox.presets import FORMAT, Preset, load_dataset


@pytest.fixture(scope="module")
def medleydb():
    return load_dataset("medleydb")


def _physical(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("logits", "layout")}


def _show_json(capsys, spec: str) -> dict:
    assert main(["presets", "show", spec, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _render(preset: Preset, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return preset.to_chain().eval()(torch.from_numpy(x).view(1, 1, -1))[0].numpy()


def test_published_presets_survive_the_json_round_trip_bit_exactly(medleydb, tmp_path):
    for row in (0, 17, 69):
        preset = medleydb.preset(row)
        again = Preset.load(preset.save(tmp_path / f"{row}.json"))
        np.testing.assert_array_equal(again.logits, preset.logits)


def test_an_edited_file_renders_its_edit(medleydb, tmp_path, capsys):
    """Edit EQ 1 to 5 kHz / +18 dB: the CLI render follows the edit, equals the render of a preset
    built in Python with the same values, and `show --json` prints the edited values."""
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(30000)).astype(np.float32)
    sf.write(tmp_path / "dry.wav", x, 44100, subtype="FLOAT")
    original = medleydb.preset(0)
    data = original.to_json()
    data["eq"][0]["freq_hz"], data["eq"][0]["gain_db"] = 5000.0, 18.0
    (tmp_path / "edited.json").write_text(json.dumps(data))

    with pytest.warns(UserWarning, match=r"eq\[0\]\.gain_db, eq\[0\]\.freq_hz differ from the stored logits"):
        assert main(["render", str(tmp_path / "edited.json"), str(tmp_path / "dry.wav"),
                     str(tmp_path / "out.wav")]) == 0
    capsys.readouterr()
    rendered, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)

    values = original.decode()
    values["eq"][0].update(freq_hz=5000.0, gain_db=18.0)
    built = Preset.from_physical(values)
    np.testing.assert_array_equal(rendered.T, _render(built, x))
    assert np.abs(rendered.T - _render(original, x)).max() > 0.01  # the edit is heard

    with pytest.warns(UserWarning, match="differ from the stored logits"):
        shown = _show_json(capsys, str(tmp_path / "edited.json"))
    assert shown["eq"][0]["freq_hz"] == pytest.approx(5000.0, rel=1e-12)
    assert shown["eq"][0]["gain_db"] == 18.0


def test_files_written_from_float32_values_load_without_warnings(medleydb):
    """Presets written by older diffvox decoded the float32 chain: their values differ from the
    float64 decoding by float32 rounding, which is not an edit."""
    preset = medleydb.preset(2)
    data = preset.to_json()
    chain = preset.to_chain().eval()
    with torch.no_grad():
        v = chain.decode()
        data["reverb"]["U"] = v[chain.reverb]["U"][0].tolist()
        data["reverb"]["decay_gamma"] = v[chain.reverb]["gamma"][0].tolist()
        data["reverb"]["t60_s"] = t60_seconds(v[chain.reverb]["gamma"][0].double()).tolist()
        data["compressor"]["at_coef"] = float(v[chain.compressor]["at"][0])
        data["compressor"].pop("attack_ms")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = Preset.from_json(data)
    np.testing.assert_array_equal(again.logits, preset.logits)


def test_a_hand_written_preset_needs_no_logits(medleydb, capsys, tmp_path):
    data = _physical(medleydb.preset(5).to_json())
    comp = data["compressor"]
    del comp["at_coef"], comp["release_ms"]  # attack given as a time, release as a coefficient
    comp["attack_ms"] = 10.0
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing disagrees: no warning
        shown = _show_json(capsys, str(path))
    assert shown["compressor"]["attack_ms"] == pytest.approx(10.0, rel=1e-12)
    assert shown["compressor"]["rt_coef"] == pytest.approx(comp["rt_coef"], rel=1e-12)
    np.testing.assert_allclose(shown["reverb"]["U"], data["reverb"]["U"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["compressor"].__setitem__("attack_ms", 10.0),
     r"compressor\.attack_ms = 10 and compressor\.at_coef = .* disagree"),
    (lambda d: d["direct_pan"].__setitem__("pan_percent", 50.0),
     r"direct_pan\.pan_percent = 50 and direct_pan\.pan = .* disagree"),
    (lambda d: d["reverb"]["t60_s"].__setitem__(3, 1.0), r"reverb\.t60_s .* and reverb\.decay_gamma"),
    (lambda d: d["eq"][2].__setitem__("Q", 1.0), r"eq\[2\]\.Q is 1; it must be 0\.707"),
    (lambda d: d["eq"][0].__setitem__("type", "lowpass"), r"eq\[0\]\.type is 'lowpass'; it must be 'peak'"),
    (lambda d: d.__setitem__("sample_rate_hz", 48000), "sample_rate_hz is 48000; it must be 44100"),
])
def test_redundant_fields_must_agree(medleydb, edit, message):
    data = medleydb.preset(0).to_json()
    edit(data)
    with pytest.raises(ValueError, match=message):
        Preset.from_json(data)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["delay"].__setitem__("delay_ms", 5000.0),
     r"delay\.delay_ms = 5000 ms is outside its range \(100, 1000\) ms"),
    (lambda d: d["compressor"].__setitem__("cmp_ratio", 0.5), r"compressor\.cmp_ratio = 0\.5 is outside its range \(1, 20\)"),
    (lambda d: d["compressor"].__setitem__("lookahead_ms", 15.0), r"lookahead_ms = 15 ms is outside its range \[0, 15\)"),
    (lambda d: d["eq"][1].__setitem__("Q", 30.0), r"eq\[1\]\.Q = 30 is outside its range \(0\.2, 20\)"),
    (lambda d: d["eq"][4].__setitem__("freq_hz", 25000.0), r"eq\[4\]\.freq_hz = 25000 Hz is outside"),
    (lambda d: d["delay"]["odd_pan"].__setitem__("pan", 1.5), r"delay\.odd_pan\.pan = 1\.5 is outside its range \(0, 1\)"),
    (lambda d: d.__setitem__("send_delay_to_reverb", 0.0), r"send_delay_to_reverb = 0 is outside"),
    (lambda d: d["reverb"]["decay_gamma"].__setitem__(0, 1.0), r"reverb\.decay_gamma = 1 is outside its range \(0, 0\.9827"),
    (lambda d: d["reverb"].__setitem__("U", np.eye(6).tolist()[:5]), r"reverb\.U must have shape \[6, 6\]"),
    (lambda d: d["reverb"]["U"][0].__setitem__(0, 2.0), r"reverb\.U: it is not orthogonal"),
    (lambda d: d["reverb"].__setitem__("U", np.diag([-1.0, 1, 1, 1, 1, 1]).tolist()), "determinant is -1"),
    (lambda d: d["eq"][0].__setitem__("gain_db", "loud"), r"eq\[0\]\.gain_db must be a number"),
    (lambda d: d["eq"][0].__setitem__("freq_Hz", 100.0), r"unknown field eq\[0\]\.freq_Hz"),
    (lambda d: d["eq"][0].__setitem__("gain_db", float("nan")), r"eq\[0\]\.gain_db is nan"),
    (lambda d: d["reverb"]["b"][1].__setitem__(0, float("inf")), r"reverb\.b\[1\]\[0\] is inf"),
    (lambda d: d["logits"].__setitem__("6.params.cmp_th", float("nan")), r"logits\.6\.params\.cmp_th is nan"),
])
def test_bad_values_are_refused_naming_the_field(medleydb, edit, message):
    data = medleydb.preset(0).to_json()
    edit(data)
    with pytest.raises(ValueError, match=message):
        Preset.from_json(data)


def test_nan_in_a_file_is_refused_at_load(medleydb, tmp_path, capsys):
    text = json.dumps(medleydb.preset(0).to_json()).replace('"make_up_db": ', '"make_up_db": NaN, "x": ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    assert main(["presets", "show", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "compressor.make_up_db is nan" in captured.err


def test_variant_files_cannot_hold_the_effects_they_leave_out(medleydb):
    data = medleydb.preset(0).to_json()
    data["chain"] = {"delay": False}
    with pytest.raises(ValueError, match="leaves out the delay"):
        Preset.from_json(data)


def _random_values(draw) -> dict:
    """Valid physical values for every field of the full chain, drawn field by field."""
    entries, _ = walk(DiffVox())
    values: dict = {}
    for entry in entries:
        field, shape = entry.field, tuple(entry.field.to_value(
            torch.zeros(entry.shape, dtype=torch.float64)).shape)
        size = int(np.prod(shape))
        if field.check is not None:  # the orthogonal matrix: expm of a random skew matrix
            angles = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=15, max_size=15)))
            skew = np.zeros((6, 6))
            skew[np.triu_indices(6, 1)] = angles
            value = scipy.linalg.expm(skew - skew.T)
        else:
            lo, hi = field.range.lo, field.range.hi
            lo, hi = (-40.0, 40.0) if np.isinf(lo) else (lo, hi)
            floats = st.floats(lo, hi, exclude_min=not field.range.lo_closed, exclude_max=True,
                               allow_subnormal=False)
            value = np.array(draw(st.lists(floats, min_size=size, max_size=size))).reshape(shape)
        node = values
        for part, after in zip(entry.path[:-1], entry.path[1:]):
            if isinstance(part, int):
                while len(node) <= part:
                    node.append({})
            else:
                node.setdefault(part, [] if isinstance(after, int) else {})
            node = node[part]
        node[entry.path[-1]] = value.tolist()
    return values


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_valid_values_survive_save_load_and_show(tmp_path_factory, capsys, data):
    values = _random_values(data.draw)
    path = tmp_path_factory.mktemp("hypothesis") / "p.json"
    Preset.from_physical(values, "random").save(path)
    shown = _show_json(capsys, str(path))

    def compare(given, got, where=""):
        if isinstance(given, dict):
            for key in given:
                compare(given[key], got[key], f"{where}.{key}")
        elif isinstance(given, list) and given and isinstance(given[0], dict):
            for i, (a, b) in enumerate(zip(given, got)):
                compare(a, b, f"{where}[{i}]")
        else:
            np.testing.assert_allclose(got, given, rtol=1e-9, atol=1e-12, err_msg=where)

    compare(values, shown)
    assert json.loads(path.read_text())["format"] == FORMAT


def test_values_a_hair_from_their_bounds_are_refused(medleydb):
    data = medleydb.preset(0).to_json()
    data["compressor"]["avg_coef"] = 5e-324  # the chain keeps coefficients eps inside (0, 1)
    with pytest.raises(ValueError, match=r"compressor\.avg_coef = 4\.94066e-324 is outside its range \[2\.22045e-16"):
        Preset.from_json(data)


def test_a_missing_section_is_named_when_there_are_no_logits(medleydb):
    data = _physical(medleydb.preset(0).to_json())
    data["eq"].pop()
    with pytest.raises(ValueError, match=r"eq\[5\]\.freq_hz is missing \(and 1 more\)"):
        Preset.from_json(data)


def test_show_json_is_strict_json(capsys):
    assert main(["presets", "show", "internal:3", "--json"]) == 0

    def refuse(constant):
        raise AssertionError(f"show --json printed {constant}")
    shown = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert shown["eq"][0]["type"] == "peak" and len(shown["reverb"]["t60_s"]) == 49
