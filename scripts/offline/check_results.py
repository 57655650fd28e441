"""Check a results folder of scripts/gpu_results.py: every step passed, every file is there and
says which device made it, the wheelhouse's packages were used without shadowing the node's.

    python scripts/offline/check_results.py RESULTS [--device cuda] [--tiny]

Prints one line per problem and exits 1 if there is any. Standard library only.
"""
from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["install", "environment", "cuda-tests", "iir-benchmark", "chain-benchmark", "matching-benchmark",
         "profile-step", "scan-chapter", "batched-fit-curve"]
FROM_WHEELHOUSE = ["torchcomp", "torchlpc", "soundfile", "pyloudnorm", "auraloss", "jupytext", "nbformat",
                   "nbclient", "ipykernel"]
FROM_NODE = ["torch", "numpy", "numba", "scipy", "pandas", "matplotlib", "pytest"]


def problems(results: Path, device: str, tiny: bool) -> list[str]:
    found = []
    summary_path = results / "summary.json"
    if not summary_path.exists():
        return [f"{summary_path}: missing"]
    summary = json.loads(summary_path.read_text())
    status = {s["step"]: s for s in summary["steps"]}
    for name in STEPS:
        if name not in status:
            found.append(f"step {name}: not in summary.json")
            continue
        expected = "ok"
        if name == "batched-fit-curve" and not (ROOT / "benchmarks" / "batched.py").exists():
            expected = "skipped"
        if status[name]["status"] != expected:
            found.append(f"step {name}: {status[name]['status']}, expected {expected}: {status[name].get('reason', '')}")
    log = (results / "log.txt").read_text() if (results / "log.txt").exists() else ""
    for name in STEPS:
        if f"step {name}:" not in log:
            found.append(f"log.txt: no line for step {name}")
    if summary.get("tiny") != tiny or summary.get("device") != device:
        found.append(f"summary.json: device {summary.get('device')} tiny {summary.get('tiny')}, expected {device} {tiny}")

    env_path = results / "environment.json"
    if env_path.exists():
        env = json.loads(env_path.read_text())
        site = str(Path(summary["site"]).resolve())
        for name in FROM_WHEELHOUSE:
            where = env["modules"].get(name, {}).get("file") or ""
            if not where.startswith(site):
                found.append(f"environment.json: {name} imported from {where or '?'}, not from the wheelhouse's {site}")
        for name in FROM_NODE:
            where = env["modules"].get(name, {}).get("file") or ""
            if not where or where.startswith(site):
                found.append(f"environment.json: {name} imported from {where or '?'}, not from the node's own packages")
        if env.get("torchlpc_extension_loaded") is not False:
            found.append("environment.json: torchlpc loaded a compiled extension; the wheelhouse's has none")
    else:
        found.append(f"{env_path}: missing")

    kind = device.split(":")[0]
    tag = f"{kind}_tiny" if tiny else kind
    names = ["iir", "chain", "matching", "profile_step"]
    if (ROOT / "benchmarks" / "batched.py").exists():
        names.append("batched")
    for name in names:
        path = results / "benchmarks" / f"{name}_{tag}.json"
        if not path.exists():
            found.append(f"{path}: missing")
            continue
        machine = json.loads(path.read_text()).get("machine", {})
        if not machine.get("device_name") or machine.get("device") != device:
            found.append(f"{path}: machine {machine} does not name the {device} device")
        if kind == "cuda" and machine.get("gpu") != summary.get("device_name"):
            found.append(f"{path}: gpu {machine.get('gpu')!r}, the run's is {summary.get('device_name')!r}")

    nb_path = results / "book" / "scan_benchmarks.ipynb"
    if nb_path.exists():
        cells = [c for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]
        if not cells or any(c.get("execution_count") is None for c in cells):
            found.append(f"{nb_path}: not every code cell was executed")
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            found.append(f"{nb_path}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    else:
        found.append(f"{nb_path}: missing")

    xml_path = results / "cuda-tests.xml"
    if xml_path.exists():
        suite = ET.parse(xml_path).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests, bad = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        if tests == 0 or bad:
            found.append(f"{xml_path}: {tests} tests, {bad} failed or errors")
        if kind == "cuda" and skipped:
            found.append(f"{xml_path}: {skipped} CUDA tests skipped on a CUDA run")
    else:
        found.append(f"{xml_path}: missing")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    found = problems(args.results, args.device, args.tiny)
    for line in found:
        print(f"check_results: {line}", file=sys.stderr)
    print(f"{args.results}: " + ("all checks passed" if not found else f"{len(found)} problem(s)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
