"""Every GPU result in one offline run, on a node with no network, no make and its own Python.

    python3 scripts/gpu_results.py --out gpu-results/                      # on the GPU node
    python3 scripts/gpu_results.py --out /tmp/smoke --device cpu --tiny    # smoke run, any machine
    python3 scripts/gpu_results.py --list                                  # the steps

Needs the node's Python with torch, numba, numpy, scipy, pandas, matplotlib, pytest and
hypothesis (a cluster's usual set; the README's GPU section), the checkout, and a wheelhouse
made where PyPI is reachable (``make wheelhouse PYVER=3.12``, scripts/offline/wheelhouse.py).
Its steps:

1. install: ``pip install --no-index --no-deps --target SITE`` of the wheelhouse's wheels whose
   distribution this Python does not already have (the node's own packages are never shadowed
   or changed); SITE (default build/offline-site-pyX.Y) and the checkout go on PYTHONPATH for
   every later step, which each run as a subprocess of this Python.
2. environment: versions, the GPU's name, where each package was imported from, whether
   torchlpc runs its numba path (environment.json).
3. the CUDA tests (pytest -m cuda), the IIR, chain, matching and step-profile benchmarks, the
   scan-benchmark chapter (executed with DIFFVOX_FULL=1 on a GPU), and the batched-fit curve
   (benchmarks/batched.py, run when it exists, with --device, --out and, in --tiny runs, --tiny).

Presets come from WHEELS/presets (copied there by the wheelhouse, sha256-checked here), else
data/presets. Everything goes into --out: log.txt (every step's output), summary.json (each
step's status, time and, on failure, why), environment.json, benchmarks/*.json (each records the
device's name), book/scan_benchmarks.ipynb (executed) and book/results/*.json. Each step has a
time limit (--timeout-scale scales them); a step that fails or runs out of time is logged and
the next one runs. The exit status is 0 when no step failed. ``--device cpu --tiny`` runs every
step at tiny sizes: the smoke test of this script (``make offline-smoke``).

Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/scan_benchmarks.md"
BATCHED = "benchmarks/batched.py"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_distribution(filename: str) -> str:
    """The distribution a wheel file installs (PEP 427 file name: name-version-...-tags.whl)."""
    return _normalise(filename.split("-")[0])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Run:
    """The results folder, its log and the step records."""

    def __init__(self, out: Path, echo: bool = True):
        self.out = out
        self.echo = echo
        self.steps: list[dict] = []
        self.log = open(out / "log.txt", "a", buffering=1)

    def say(self, line: str) -> None:
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        self.log.write(f"[{stamp}] {line}\n")
        print(f"[{stamp}] {line}", flush=True)

    def record(self, name: str, status: str, seconds: float, reason: str = "", **extra) -> dict:
        row = {"step": name, "status": status, "seconds": round(seconds, 1), **({"reason": reason} if reason else {}),
               **extra}
        self.steps.append(row)
        self.say(f"step {name}: {status.upper()} in {seconds:.0f} s" + (f": {reason}" if reason else ""))
        return row

    def command(self, name: str, cmd: list[str], env: dict, timeout: float, outputs: list[Path] = ()) -> dict:
        """Run ``cmd`` in its own process group with a time limit, its output into the log."""
        shown = " ".join(c if len(c) < 200 else c[:60].split("\n")[1 if c.startswith("\n") else 0] + " ..."
                         for c in cmd)
        self.say(f"step {name}: {shown}  (limit {timeout:.0f} s)")
        start = time.perf_counter()
        tail: list[str] = []
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
        except OSError as err:
            return self.record(name, "failed", 0.0, f"could not start: {err}")

        def pump():
            for line in proc.stdout:
                self.log.write(f"    {line}" if line.endswith("\n") else f"    {line}\n")
                if self.echo:
                    print(f"  | {line}", end="" if line.endswith("\n") else "\n", flush=True)
                tail.append(line.rstrip())
                del tail[:-40]

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            reader.join(5)
            return self.record(name, "timeout", time.perf_counter() - start,
                               f"still running after its limit of {timeout:.0f} s, stopped")
        except KeyboardInterrupt:
            _kill_group(proc)
            raise
        reader.join(10)
        seconds = time.perf_counter() - start
        found = [str(p.relative_to(self.out)) for p in outputs if p.exists()]
        if code != 0:
            return self.record(name, "failed", seconds, f"exit status {code}: {_reason(tail)}", outputs=found)
        lost = [str(p.relative_to(self.out)) for p in outputs if not p.exists()]
        if lost:
            return self.record(name, "failed", seconds, f"exit status 0 but it did not write {', '.join(lost)}",
                               outputs=found)
        return self.record(name, "ok", seconds, outputs=found)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _reason(tail: list[str]) -> str:
    """The line of a failed step's output that says why: the last error-like line, else the last one."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in tail]  # no terminal colours
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if re.match(r"^(E\s+)?[\w.]*(Error|Exception|Interrupt)\b|^FAILED|^error:|^ERROR", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def install(run: Run, wheels: Path, site: Path, install_all: bool) -> bool:
    """The wheelhouse's wheels that this Python lacks, into ``site`` (replaced), pip with no index."""
    start = time.perf_counter()
    manifest_path = wheels / "MANIFEST.json"
    if not manifest_path.exists():
        run.record("install", "failed", 0.0, f"{manifest_path} not found: make the wheelhouse first "
                   f"(make wheelhouse PYVER={sys.version_info[0]}.{sys.version_info[1]})")
        return False
    manifest = json.loads(manifest_path.read_text())
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if manifest.get("python_version") != here:
        run.record("install", "failed", 0.0, f"{wheels} was made for Python {manifest.get('python_version')}, "
                   f"this is {here}: make wheelhouse PYVER={here}")
        return False
    bad = [name for name, digest in manifest["wheels"].items()
           if not (wheels / name).exists() or sha256(wheels / name) != digest]
    if bad:
        run.record("install", "failed", time.perf_counter() - start,
                   f"missing or altered in {wheels}: {', '.join(bad)}")
        return False
    present = {_normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
               if d.metadata["Name"]}
    chosen, kept = [], []
    for name in sorted(manifest["wheels"]):
        dist = wheel_distribution(name)
        (kept if dist in present and not install_all else chosen).append(name)
    for name in kept:
        run.say(f"install: {wheel_distribution(name)} {present[wheel_distribution(name)]} is already here; "
                f"not installing {name}")
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    if not chosen:
        run.record("install", "ok", time.perf_counter() - start, installed=[])
        return True
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check",
           "--no-warn-script-location", "--no-compile", "--target", str(site), *(str(wheels / n) for n in chosen)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no index, find-links or config
    env.update({"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull})
    row = run.command("install", cmd, env, 300)
    row["installed"] = chosen
    row["already_present"] = {wheel_distribution(n): present[wheel_distribution(n)] for n in kept}
    return row["status"] == "ok"


ENVIRONMENT = r"""
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
import torch
info = {"python": sys.version.split()[0], "executable": sys.executable, "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(), "modules": {}}
if torch.cuda.is_available():
    info["gpu"] = torch.cuda.get_device_name(0)
for name in ("torch", "diffvox", "torchcomp", "torchlpc", "numba", "numpy", "scipy", "soundfile", "pyloudnorm", "auraloss",
             "pandas", "matplotlib", "jupytext", "nbformat", "nbclient", "ipykernel", "pytest", "hypothesis"):
    try:
        module = importlib.import_module(name)
        info["modules"][name] = {"version": getattr(module, "__version__", None), "file": module.__file__}
    except Exception as err:
        info["modules"][name] = {"error": f"{type(err).__name__}: {err}"}
import torchlpc
info["torchlpc_extension_loaded"] = torchlpc.EXTENSION_LOADED
if torch.cuda.is_available():  # torchcomp's forward and torchlpc's path are numba CUDA kernels: compile one
    try:
        from numba import cuda
        @cuda.jit
        def _twice(x):
            i = cuda.grid(1)
            if i < x.shape[0]:
                x[i] *= 2
        t = torch.ones(8, device="cuda")
        _twice[1, 8](cuda.as_cuda_array(t))
        torch.cuda.synchronize()
        info["numba_cuda"] = "ok" if float(t.sum()) == 16 else f"wrong result {float(t.sum())}"
    except Exception as err:
        info["numba_cuda"] = f"{type(err).__name__}: {err}"[:500]
out = sys.argv[1]
with open(out, "w") as f:
    json.dump(info, f, indent=1)
bad = {k: v["error"] for k, v in info["modules"].items() if "error" in v}
print(json.dumps(info, indent=1))
if bad:
    sys.exit("cannot import " + "; ".join(f"{k} ({v})" for k, v in bad.items()))
if sys.argv[2] == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device: torch.cuda.is_available() is False (use --device cpu --tiny for a smoke run)")
if info.get("numba_cuda", "ok") != "ok":
    sys.exit("numba cannot run a CUDA kernel here (torchcomp and torchlpc need it): " + info["numba_cuda"])
"""


def presets_dir(wheels: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    return wheels / "presets" if (wheels / "presets").is_dir() else ROOT / "data" / "presets"


def check_presets(path: Path) -> str | None:
    """None when every file of data/presets.sha256 is in ``path`` with its digest, else what is wrong."""
    manifest = ROOT / "data" / "presets.sha256"
    wrong = []
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            f = path / name.strip()
            if not f.is_file() or sha256(f) != digest:
                wrong.append(name.strip())
    return f"{len(wrong)} preset file(s) missing or altered in {path}: {', '.join(wrong[:3])}" if wrong else None


def steps(py: str, out: Path, device: str, tiny: bool) -> list[dict]:
    """The measured steps: name, command, limit (s), extra environment, files it must write."""
    kind = device.split(":")[0]
    tag = f"{kind}_tiny" if tiny else kind
    bench = out / "benchmarks"
    cuda_files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                        if "pytest.mark.cuda" in p.read_text())
    small = {  # --tiny: every step at a size that takes seconds on a CPU
        "iir": ["--rows", "2", "--time", "8192", "--repeat", "1"],
        "chain": ["--batch", "1", "--seconds", "1", "--repeat", "1"],
        "matching": ["--batch", "1", "--chunk-seconds", "1", "--overlap-seconds", "0.5", "--repeat", "1"],
        "profile": ["--batch", "1", "--chunk-seconds", "1", "--overlap-seconds", "0.5", "--repeat", "1", "--top", "10"],
    }
    extra = lambda key: small[key] if tiny else []  # noqa: E731
    chapter_env = {"DIFFVOX_TINY": "1"} if tiny else {"DIFFVOX_FULL": "1"}
    result = [
        {"name": "cuda-tests", "limit": 300, "outputs": [out / "cuda-tests.xml"],
         "cmd": [py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "-o", "addopts=",
                 f"--junitxml={out / 'cuda-tests.xml'}", *cuda_files]},
        {"name": "iir-benchmark", "limit": 360, "outputs": [bench / f"iir_{tag}.json"],
         "cmd": [py, "benchmarks/iir.py", "--device", device, "--out", str(bench / f"iir_{tag}.json"), *extra("iir")]},
        {"name": "chain-benchmark", "limit": 180, "outputs": [bench / f"chain_{tag}.json"],
         "cmd": [py, "benchmarks/chain.py", "--device", device, "--out", str(bench / f"chain_{tag}.json"),
                 *extra("chain")]},
        {"name": "matching-benchmark", "limit": 300, "outputs": [bench / f"matching_{tag}.json"],
         "cmd": [py, "benchmarks/matching.py", "--device", device, "--out", str(bench / f"matching_{tag}.json"),
                 *extra("matching")]},
        {"name": "profile-step", "limit": 180, "outputs": [bench / f"profile_step_{tag}.json"],
         "cmd": [py, "benchmarks/profile_step.py", "--device", device, "--out",
                 str(bench / f"profile_step_{tag}.json"), *extra("profile")]},
        {"name": "scan-chapter", "limit": 480, "env": chapter_env,
         "outputs": [out / "book" / "scan_benchmarks.ipynb"],
         "cmd": [py, "scripts/execute_chapters.py", "--executed", str(out / "book"), CHAPTER]},
        {"name": "batched-fit-curve", "limit": 480, "hook": BATCHED, "outputs": [bench / f"batched_{tag}.json"],
         "cmd": [py, BATCHED, "--device", device, "--out", str(bench / f"batched_{tag}.json"),
                 "--curve-only", *(["--tiny"] if tiny else [])]},
    ]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="results folder (new, or empty)")
    ap.add_argument("--wheels", type=Path, default=ROOT / "wheelhouse", help="the wheelhouse (default wheelhouse/)")
    ap.add_argument("--site", type=Path, default=None,
                    help="where the wheels are installed (default build/offline-site-pyX.Y; replaced)")
    ap.add_argument("--presets", type=Path, default=None, help="default WHEELS/presets, else data/presets")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu with --tiny")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes everywhere: the smoke run")
    ap.add_argument("--only", default="", help="comma-separated steps to run (see --list)")
    ap.add_argument("--skip", default="", help="comma-separated steps to leave out")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiplies every step's time limit")
    ap.add_argument("--budget", type=float, default=0.0,
                    help="seconds for the whole run: each step's limit is cut to what is left, and a step "
                         "with under 20 s left is not started (default: no budget)")
    ap.add_argument("--install-all", action="store_true",
                    help="install every wheel, also those whose distribution this Python has")
    ap.add_argument("--quiet", action="store_true", help="steps' output to log.txt only")
    ap.add_argument("--list", action="store_true", help="print the steps and their limits, then exit")
    args = ap.parse_args(argv)
    names = ["install", "environment"] + [s["name"] for s in steps(sys.executable, Path("OUT"), args.device, args.tiny)]
    if args.list:
        print(f"{'install':20s} limit   300 s  pip install --no-index --no-deps --target SITE (wheels this Python lacks)")
        print(f"{'environment':20s} limit   180 s  versions, GPU name, numba CUDA, where each package comes from")
        for s in steps(sys.executable, Path("OUT"), args.device, args.tiny):
            print(f"{s['name']:20s} limit {s['limit'] * args.timeout_scale:5.0f} s  {' '.join(s['cmd'][1:])}")
        return 0
    if args.out is None:
        ap.error("--out is required")
    for option in ("only", "skip"):
        unknown = [n for n in filter(None, getattr(args, option).split(",")) if n not in names]
        if unknown:
            ap.error(f"--{option}: unknown step {', '.join(unknown)} (steps: {', '.join(names)})")
    if args.timeout_scale <= 0 or args.budget < 0:
        ap.error("--timeout-scale must be positive and --budget not negative")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        ap.error(f"--device {args.device!r}: give cuda, cuda:N or cpu")
    if args.device == "cpu" and not args.tiny:
        ap.error("--device cpu is the smoke run: add --tiny (full sizes on a CPU take hours; use make bench)")
    out = args.out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        ap.error(f"--out {args.out}: exists and is not an empty folder (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks").mkdir(exist_ok=True)
    (out / "book" / "results").mkdir(parents=True, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    skip = set(filter(None, args.skip.split(",")))
    wanted = lambda name: (not only or name in only) and name not in skip  # noqa: E731

    run = Run(out, echo=not args.quiet)
    started, began = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    wheels = args.wheels.resolve()
    site = (args.site or ROOT / "build" / f"offline-site-py{sys.version_info[0]}.{sys.version_info[1]}").resolve()
    presets = presets_dir(wheels, args.presets).resolve()
    run.say(f"gpu_results: Python {sys.version.split()[0]} ({sys.executable}), device {args.device}"
            f"{', tiny sizes' if args.tiny else ''}; wheels {wheels}; site {site}; presets {presets}; out {out}")
    if wanted("install"):
        install(run, wheels, site, args.install_all)
    elif not site.is_dir():
        run.say(f"install skipped and {site} does not exist: the steps use this Python's packages only")

    scratch = Path(tempfile.mkdtemp(prefix="diffvox-offline-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update({"PYTHONUNBUFFERED": "1", "DIFFVOX_PRESETS": str(presets),
                "JUPYTER_RUNTIME_DIR": str(scratch / "jupyter-runtime"), "JUPYTER_DATA_DIR": str(scratch / "jupyter-data"),
                "IPYTHONDIR": str(scratch / "ipython"), "MPLCONFIGDIR": str(scratch / "matplotlib"),
                "JUPYTER_PLATFORM_DIRS": "1", "PIP_NO_INDEX": "1"})
    problem = check_presets(presets)
    if problem:
        run.say(f"presets: {problem}; the steps that read presets will fail")
    try:
        if wanted("environment"):
            run.command("environment", [sys.executable, "-c", ENVIRONMENT, str(out / "environment.json"),
                                        args.device.split(":")[0]], env, 180, [out / "environment.json"])
        for step in steps(sys.executable, out, args.device, args.tiny):
            if not wanted(step["name"]):
                continue
            if step.get("hook") and not (ROOT / step["hook"]).exists():
                run.record(step["name"], "skipped", 0.0, f"{step['hook']} does not exist in this checkout yet")
                continue
            limit = step["limit"] * args.timeout_scale
            if args.budget:
                left = args.budget - (time.monotonic() - began)
                if left < 20:
                    run.record(step["name"], "not run", 0.0, f"the budget of {args.budget:.0f} s is spent")
                    continue
                limit = min(limit, left)
            step_env = {**env, **step.get("env", {})}
            before = _mtimes(ROOT / "book" / "results")
            run.command(step["name"], step["cmd"], step_env, limit, step["outputs"])
            for path, mtime in _mtimes(ROOT / "book" / "results").items():  # what the chapter wrote in the checkout
                if before.get(path) != mtime:
                    shutil.copy2(path, out / "book" / "results" / path.name)
                    run.say(f"step {step['name']}: copied {path.relative_to(ROOT)} to {out / 'book' / 'results'}")
    except KeyboardInterrupt:
        run.say("interrupted (Ctrl-C): summary.json has the steps done so far")
        _write_summary(run, out, args, started, site, presets)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = _write_summary(run, out, args, started, site, presets)
    failed = [s["step"] for s in run.steps if s["status"] in ("failed", "timeout", "not run")]
    width = max(len(s["step"]) for s in run.steps)
    print()
    for s in run.steps:
        print(f"  {s['step']:{width}s}  {s['status']:8s} {s['seconds']:7.1f} s  {s.get('reason', '')}")
    print(f"\n{len(run.steps) - len(failed)} of {len(run.steps)} steps ok or skipped in "
          f"{summary['seconds']:.0f} s; results in {out}"
          + (f"; FAILED: {', '.join(failed)} (see {out / 'log.txt'})" if failed else ""))
    return 1 if failed else 0


def _mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.glob("*.json")} if folder.is_dir() else {}


def _write_summary(run: Run, out: Path, args, started, site: Path, presets: Path) -> dict:
    env_file = out / "environment.json"
    info = json.loads(env_file.read_text()) if env_file.exists() else {}
    finished = datetime.datetime.now(datetime.timezone.utc)
    summary = {"device": args.device, "device_name": info.get("gpu") or ("cpu" if args.device == "cpu" else None),
               "tiny": args.tiny, "python": sys.version.split()[0], "torch": info.get("torch"),
               "commit": _commit(), "started": started.isoformat(timespec="seconds"),
               "finished": finished.isoformat(timespec="seconds"),
               "seconds": (finished - started).total_seconds(), "site": str(site), "presets": str(presets),
               "steps": run.steps}
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(out / "summary.json")
    return summary


def _commit() -> str | None:
    head = ROOT / ".git"
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None if not head.exists() else "unknown"


if __name__ == "__main__":
    sys.exit(main())
