"""The offline GPU run, proved on a CPU (``make offline-smoke``, part of ``make test``).

    python scripts/offline/smoke.py [--work build/offline-smoke] [--node-python python3.11]

1. A fresh venv holding only what the GPU node holds: torch (the local 2.13 CPU wheel, where the
   node has 2.11 CUDA) and scripts/offline/node-packages.txt (less triton and torchaudio, see
   there); never this project's .venv. It is kept between runs while that list is unchanged.
2. A wheelhouse for that venv's Python, by the recipe of ``make wheelhouse``
   (scripts/offline/wheelhouse.py), and one for CPython 3.12 (the node's), whose every wheel's
   tags are checked against cp312 manylinux x86_64 (scripts/offline/wheeltags.py).
3. scripts/gpu_results.py run by the venv's Python, as the node would run it, with ``--device cpu
   --tiny``, into WORK/results; inside a network namespace with only loopback when ``unshare``
   allows it, so a step that reached the network would fail.
4. The results folder checked (scripts/offline/check_results.py).

The node runs Python 3.12; the venv here has this machine's 3.11, because torch for 3.12 is not
to be had here as a CPU build (PyPI's is a CUDA build of several GB).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SMOKE_LEAVES_OUT = ("torch", "torchaudio", "triton")  # torch comes first, from the local wheel


def run(cmd, **kw) -> None:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def node_venv(work: Path, node_python: str, torch_version: str) -> Path:
    listing = (HERE / "node-packages.txt").read_text()
    names = [line.split("#")[0].strip() for line in listing.splitlines()]
    names = [n for n in names if n and n.split("==")[0] not in SMOKE_LEAVES_OUT]
    key = hashlib.sha256(f"{node_python} {torch_version} {names}".encode()).hexdigest()[:16]
    venv = work / "node-venv"
    stamp = venv / f".stamp-{key}"
    if stamp.exists():
        print(f"node venv: {venv} (kept: same package list)")
        return venv / "bin" / "python"
    shutil.rmtree(venv, ignore_errors=True)
    run([node_python, "-m", "venv", venv])
    py = venv / "bin" / "python"
    run([py, "-m", "pip", "install", "--quiet", f"torch=={torch_version}"])
    run([py, "-m", "pip", "install", "--quiet", *names])
    stamp.touch()
    return py


def isolated(cmd: list) -> tuple[list, str]:
    """``cmd`` in a new network namespace with loopback only, when this machine allows it."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if ok and shutil.which("ip"):
        return (["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *map(str, cmd)],
                "in a network namespace with loopback only")
    return cmd, "with the network reachable (unshare -n is not allowed here)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "offline-smoke")
    ap.add_argument("--node-python", default="python3.11", help="the Python the fresh venv is made from")
    ap.add_argument("--torch-version", default="2.13.0")
    ap.add_argument("--target-python-version", default="3.12", help="the node's Python, for the tag check")
    args = ap.parse_args()
    times = {}
    start = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    py = node_venv(args.work, args.node_python, args.torch_version)
    times["node venv"] = time.perf_counter() - start
    version = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    for pyver in dict.fromkeys([version, args.target_python_version]):
        t = time.perf_counter()
        folder = args.work / f"wheelhouse-{pyver}"
        shutil.rmtree(folder, ignore_errors=True)
        run([sys.executable, HERE / "wheelhouse.py", "--python-version", pyver, "--out", folder])
        run([sys.executable, HERE / "wheeltags.py", folder, "--python-version", pyver])
        times[f"wheelhouse {pyver}"] = time.perf_counter() - t
    results = args.work / "results"
    shutil.rmtree(results, ignore_errors=True)
    t = time.perf_counter()
    cmd, how = isolated([py, ROOT / "scripts" / "gpu_results.py", "--device", "cpu", "--tiny", "--quiet",
                         "--wheels", args.work / f"wheelhouse-{version}", "--site", args.work / "site",
                         "--out", results])
    print(f"running the entry point with the node venv's Python {version}, {how}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    code = subprocess.run([str(c) for c in cmd], env=env).returncode
    times["entry point"] = time.perf_counter() - t
    check = subprocess.run([sys.executable, HERE / "check_results.py", results, "--tiny", "--device", "cpu"]).returncode
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("smoke times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + f"; total {time.perf_counter() - start:.0f} s wall, {cpu.ru_utime + cpu.ru_stime:.0f} s CPU "
          f"in its processes (on {os.cpu_count()} cores; the wall time grows with other load, the CPU time less)")
    if code or check:
        print(f"offline smoke FAILED (entry point exit {code}, check exit {check}); see {results / 'log.txt'}",
              file=sys.stderr)
        return 1
    print("offline smoke passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
