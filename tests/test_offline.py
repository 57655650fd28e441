"""The offline GPU run's parts (scripts/gpu_results.py, scripts/offline/): wheel tags, the pure
torchlpc wheel and its numba fallback, and the entry point's handling of failing, slow and
absent steps. The whole run is exercised end to end by ``make offline-smoke``."""
from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


wheeltags = _load("wheeltags", ROOT / "scripts" / "offline" / "wheeltags.py")
pure_wheel = _load("pure_wheel", ROOT / "scripts" / "offline" / "pure_wheel.py")
gpu_results = _load("gpu_results", ROOT / "scripts" / "gpu_results.py")
wheelhouse = _load("wheelhouse", ROOT / "scripts" / "offline" / "wheelhouse.py")


@pytest.mark.parametrize("name, ok", [
    ("ipykernel-7.4.0-py3-none-any.whl", True),
    ("jedi-0.20.1-py2.py3-none-any.whl", True),
    ("rpds_py-2026.9.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    ("pyzmq-27.3.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl", True),
    ("tornado-6.6.1-cp311-abi3-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl", True),
    ("soundfile-0.14.0-py2.py3-none-manylinux_2_28_x86_64.whl", True),
    ("rpds_py-2026.9.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False),  # another Python
    ("pyzmq-27.3.0-cp313-abi3-manylinux_2_28_x86_64.whl", False),  # abi3 from a newer Python
    ("cffi-2.1.1-cp312-cp312-manylinux_2_34_x86_64.whl", False),  # newer glibc than the node's floor
    ("cffi-2.1.1-cp312-cp312-musllinux_1_2_x86_64.whl", False),
    ("cffi-2.1.1-cp312-cp312-manylinux_2_17_aarch64.whl", False),
    ("cffi-2.1.1-cp312-cp312-linux_x86_64.whl", False),  # not portable
    ("torchlpc-0.7.2.tar.gz", False),
])
def test_wheel_tags_against_cp312_manylinux_x86_64(name, ok):
    assert (wheeltags.incompatible([name], "3.12") == []) is ok


def test_requirements_are_pinned_and_name_what_the_node_lacks():
    pins = wheelhouse.pins()
    for name in ("torchcomp", "torchlpc", "pyloudnorm", "soundfile", "cffi", "auraloss", "jupytext", "nbformat",
                 "nbclient", "ipykernel", "jupyter-client", "pyzmq", "tornado"):
        assert name in pins, name
    node = {line.split("#")[0].strip().split("==")[0]
            for line in (ROOT / "scripts" / "offline" / "node-packages.txt").read_text().splitlines()} - {""}
    assert not node & set(pins), "the wheelhouse must not carry the node's own packages"
    assert pins["torchlpc"] == wheelhouse.SDISTS["torchlpc"]["version"]


def _sdist(tmp_path: Path) -> Path:
    path = tmp_path / "demo-1.0.tar.gz"
    files = {"demo-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: a demo\n",
             "demo-1.0/setup.py": "raise SystemExit('never run')\n",
             "demo-1.0/LICENSE": "MIT\n",
             "demo-1.0/demo/__init__.py": "try:\n    from . import _C\n    EXT = True\nexcept ImportError:\n"
                                          "    EXT = False\nfrom .core import answer\n",
             "demo-1.0/demo/core.py": "def answer():\n    return 42\n",
             "demo-1.0/demo/csrc/ext.cpp": "int main() { return 0; }\n"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_pure_wheel_installs_offline_and_imports_without_its_extension(tmp_path):
    wheel = pure_wheel.build(_sdist(tmp_path), "demo", tmp_path / "wheels", ["numpy"])
    assert wheel.name == "demo-1.0-py3-none-any.whl"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"})
    assert sorted(p.name for p in (target / "demo").glob("*.py")) == ["__init__.py", "core.py"]
    out = subprocess.run([sys.executable, "-c", "import demo, importlib.metadata as m; "
                          "print(demo.answer(), demo.EXT, m.requires('demo'))"],
                         env={"PYTHONPATH": str(target)}, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["42", "False", "['numpy']"]


FALLBACK = r"""
import json, sys, warnings
sys.modules["torchlpc._C"] = None  # `from . import _C` fails, as when the wheelhouse's has no file
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch, torchlpc
    torch.manual_seed(0)
    x = torch.randn(3, 300, dtype=torch.float64, requires_grad=True)
    a = (0.9 * torch.rand(3, 300, 2, dtype=torch.float64) - 0.45).requires_grad_(True)
    a1 = (0.98 * torch.rand(3, 300, 1, dtype=torch.float64)).requires_grad_(True)
    y, y1 = torchlpc.sample_wise_lpc(x, a), torchlpc.sample_wise_lpc(x, a1)
    gx, ga, ga1 = torch.autograd.grad(y.square().sum() + y1.square().sum(), (x, a, a1))

def loop(x, a):  # y[n] = x[n] - sum_k a[n, k] y[n-1-k], one sample at a time, through autograd
    out = []
    for n in range(x.shape[1]):
        v = x[:, n]
        for k in range(a.shape[2]):
            if n - 1 - k >= 0:
                v = v - a[:, n, k] * out[n - 1 - k]
        out.append(v)
    return torch.stack(out, 1)

r, r1 = loop(x, a), loop(x, a1)
rx, ra, ra1 = torch.autograd.grad(r.square().sum() + r1.square().sum(), (x, a, a1))
err = lambda u, v: float((u - v).abs().max() / v.abs().max())
print(json.dumps({"loaded": torchlpc.EXTENSION_LOADED, "warned": any("Numba" in str(w.message) for w in caught),
                  "errors": [err(y, r), err(y1, r1), err(gx, rx), err(ga, ra), err(ga1, ra1)]}))
"""


def test_torchlpc_falls_back_to_numba_when_its_extension_is_missing():
    """What the wheelhouse's torchlpc runs (no compiled extension): its numba path, with the values
    and gradients of the same recursion computed one sample at a time through autograd (float64)."""
    done = subprocess.run([sys.executable, "-c", FALLBACK], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] is False and result["warned"]
    assert max(result["errors"]) < 1e-12, result["errors"]


def _fake_wheelhouse(path: Path, python_version: str) -> Path:
    path.mkdir()
    (path / "MANIFEST.json").write_text(json.dumps({"python_version": python_version, "wheels": {}}))
    return path


def _run(tmp_path, monkeypatch, steps, argv=()):
    monkeypatch.setattr(gpu_results, "steps", lambda py, out, device, tiny: steps(py, out))
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wheels = _fake_wheelhouse(tmp_path / "wh", here)
    out = tmp_path / "results"
    code = gpu_results.main(["--out", str(out), "--wheels", str(wheels), "--site", str(tmp_path / "site"),
                             "--device", "cpu", "--tiny", "--quiet", "--skip", "environment", *argv])
    return code, json.loads((out / "summary.json").read_text()), (out / "log.txt").read_text()


def test_a_failing_or_slow_step_is_logged_with_its_reason_and_the_others_still_run(tmp_path, monkeypatch):
    def steps(py, out):
        return [
            {"name": "fails", "limit": 60, "outputs": [], "cmd": [py, "-c", "raise ValueError('the reason')"]},
            {"name": "slow", "limit": 1, "outputs": [], "cmd": [py, "-c", "import time; time.sleep(60)"]},
            {"name": "silent", "limit": 60, "outputs": [out / "missing.json"], "cmd": [py, "-c", "pass"]},
            {"name": "hook", "limit": 60, "hook": "benchmarks/no_such_script.py", "outputs": [], "cmd": [py, "-c", "pass"]},
            {"name": "works", "limit": 60, "outputs": [out / "benchmarks" / "x.json"],
             "cmd": [py, "-c", f"open({str(out / 'benchmarks' / 'x.json')!r}, 'w').write('{{}}'); print('hello')"]},
        ]
    code, summary, log = _run(tmp_path, monkeypatch, steps)
    assert code == 1
    status = {s["step"]: s for s in summary["steps"]}
    assert [s["step"] for s in summary["steps"]] == ["install", "fails", "slow", "silent", "hook", "works"]
    assert status["install"]["status"] == "ok"
    assert status["fails"]["status"] == "failed" and "ValueError: the reason" in status["fails"]["reason"]
    assert status["slow"]["status"] == "timeout" and status["slow"]["seconds"] < 30
    assert status["silent"]["status"] == "failed" and "missing.json" in status["silent"]["reason"]
    assert status["hook"]["status"] == "skipped" and "no_such_script.py does not exist" in status["hook"]["reason"]
    assert status["works"]["status"] == "ok" and status["works"]["outputs"] == ["benchmarks/x.json"]
    assert "    hello" in log and "step fails: FAILED" in log and "step slow: TIMEOUT" in log


def test_steps_see_the_site_and_the_checkout_and_no_index(tmp_path, monkeypatch):
    def steps(py, out):
        code = ("import os, json, importlib.util; assert importlib.util.find_spec('diffvox'); json.dump({k: os.environ.get(k) for k in "
                "('PYTHONPATH', 'PIP_NO_INDEX', 'DIFFVOX_PRESETS')}, open(%r, 'w'))" % str(out / "env.json"))
        return [{"name": "env", "limit": 60, "outputs": [out / "env.json"], "cmd": [py, "-c", code]}]
    code, summary, _ = _run(tmp_path, monkeypatch, steps)
    assert code == 0, summary
    env = json.loads((tmp_path / "results" / "env.json").read_text())
    assert env["PYTHONPATH"].split(":")[:2] == [str((tmp_path / "site").resolve()), str(ROOT)]
    assert env["PIP_NO_INDEX"] == "1"


def test_install_refuses_a_wheelhouse_for_another_python_and_a_tampered_wheel(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_results, "steps", lambda py, out, device, tiny: [])
    wheels = _fake_wheelhouse(tmp_path / "wh", "3.99")
    assert gpu_results.main(["--out", str(tmp_path / "r1"), "--wheels", str(wheels), "--site", str(tmp_path / "s"),
                             "--device", "cpu", "--tiny", "--quiet", "--skip", "environment"]) == 1
    reason = json.loads((tmp_path / "r1" / "summary.json").read_text())["steps"][0]["reason"]
    assert "made for Python 3.99" in reason
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"not the wheel")
    (wheels / "MANIFEST.json").write_text(json.dumps({"python_version": here,
                                                      "wheels": {"x-1.0-py3-none-any.whl": "0" * 64}}))
    assert gpu_results.main(["--out", str(tmp_path / "r2"), "--wheels", str(wheels), "--site", str(tmp_path / "s"),
                             "--device", "cpu", "--tiny", "--quiet", "--skip", "environment"]) == 1
    reason = json.loads((tmp_path / "r2" / "summary.json").read_text())["steps"][0]["reason"]
    assert "missing or altered" in reason and "x-1.0-py3-none-any.whl" in reason


@pytest.mark.parametrize("argv, message", [
    (["--device", "cpu"], "add --tiny"),
    (["--device", "gpu0", "--tiny"], "give cuda, cuda:N or cpu"),
    (["--only", "nope"], "unknown step nope"),
])
def test_bad_options_are_refused_in_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        gpu_results.main(["--out", str(tmp_path / "r"), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_an_existing_results_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit):
        gpu_results.main(["--out", str(tmp_path / "r"), "--device", "cpu", "--tiny"])
    assert "nothing is overwritten" in capsys.readouterr().err
    assert (tmp_path / "r" / "mine.txt").read_text() == "keep"


def test_the_entry_point_imports_only_the_standard_library():
    """It runs before anything is installed, with the node's Python."""
    import ast

    for script in ("scripts/gpu_results.py", "scripts/offline/wheelhouse.py", "scripts/offline/pure_wheel.py",
                   "scripts/offline/check_results.py"):
        tree = ast.parse((ROOT / script).read_text())
        for node in tree.body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names, f"{script} imports {name}"
        assert "python3.11" not in (ROOT / script).read_text()
    assert torch.__version__  # this module's own imports are the test environment's


def test_the_reason_is_the_error_line_without_terminal_colours():
    tail = ["running", "\x1b[31mKeyError\x1b[39m: 'fwd+bwd'", "", "the kernel stopped"]
    assert gpu_results._reason(tail) == "KeyError: 'fwd+bwd'"
    assert gpu_results._reason(["one", "last words"]) == "last words"
    assert gpu_results._reason([]) == "no output"
