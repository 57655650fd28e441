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
import glob
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
    line = " ".join(str(c) for c in cmd)
    print("+ " + (line if len(line) < 400 else line[:400] + f" ... ({len(cmd)} arguments)"), flush=True)
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


KERNEL_CHECK = r"""
import sys, nbformat, nbclient, jupytext, zmq, tornado, rpds, psutil, cffi
nb = jupytext.reads("```python\nimport sys\nprint(sys.version_info[:2])\n```\n", fmt="md")
nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
print("kernel said", nb.cells[0].outputs[0]["text"].strip())
"""


def python312_check(wheels: Path, work: Path) -> str:
    """The CPython 3.12 wheelhouse installed as the node installs it, by a real 3.12 where this
    machine has one (no torch for it here), and a Jupyter kernel started to run a cell."""
    found = [shutil.which("python3.12")] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    py = next((p for p in found if p and subprocess.run([p, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                                                        capture_output=True).returncode == 0), None)
    if py is None:
        return "skipped: no Python 3.12 on this machine"
    site = work / "site-3.12"
    shutil.rmtree(site, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"})
    wheel_files = sorted(str(p) for p in wheels.glob("*.whl"))
    # what the node has and the wheelhouse relies on (torch's typing-extensions, the listed pyyaml),
    # which a bare 3.12 lacks: downloaded apart, never part of the wheelhouse
    node_side = work / "node-side-3.12"
    shutil.rmtree(node_side, ignore_errors=True)
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
         "3.12", "--implementation", "cp", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
         "--dest", node_side, "typing-extensions", "pyyaml"])
    run([py, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile", "--target", site, *wheel_files,
         *sorted(node_side.glob("*.whl"))], env=env)
    scratch = work / "jupyter-3.12"
    env.update({"PYTHONPATH": str(site), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
                "JUPYTER_DATA_DIR": str(scratch / "data"), "IPYTHONDIR": str(scratch / "ipython"),
                "JUPYTER_PLATFORM_DIRS": "1"})
    out = subprocess.run([py, "-c", KERNEL_CHECK], env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or "kernel said (3, 12)" not in out.stdout:
        raise SystemExit(f"the 3.12 wheelhouse does not run a kernel on {py}: {out.stderr.strip()[-500:]}")
    return f"{len(wheel_files)} wheels installed by {py} (3.12); a kernel ran a cell"


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
    t = time.perf_counter()
    print(f"CPython 3.12 wheelhouse: {python312_check(args.work / f'wheelhouse-{args.target_python_version}', args.work)}",
          flush=True)
    times["3.12 install and kernel"] = time.perf_counter() - t
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
