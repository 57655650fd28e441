"""Write tests/data/chain_snapshot.npz: what the chain computes today, for regression tests of a
restructuring (renders, gradients, decoded values, exact renders of a few published presets).

Made once from commit 467b853 (the per-module chain, before presets became a batch); the tests in
tests/test_snapshot.py hold every later version of the chain to it (1e-6 relative)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffvox.presets import load_dataset  # noqa: E402
from diffvox.realtime import render_exact  # noqa: E402

ROWS = {"medleydb": (0, 3, 6, 41), "internal": (1, 200)}
SECONDS = 0.3
STAGE_CASES = ("medleydb_3", "medleydb_41", "internal_200")


def main() -> None:
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(int(44100 * SECONDS), generator=gen, dtype=torch.float64) * 0.1).float().double()
    x[:2205] *= torch.linspace(0, 1, 2205, dtype=torch.float64)
    out = {"dry": x.numpy()}
    decoded = {}
    for name, rows in ROWS.items():
        ds = load_dataset(name)
        for row in rows:
            preset = ds.preset(row)
            tag = f"{name}_{row}"
            model = preset.to_chain().double().train()
            y = model(x.view(1, 1, -1))
            loss = (y.square().mean() + model.regulariser())
            loss.backward()
            out[f"wet_{tag}"] = y.detach()[0].numpy().astype(np.float32)  # float32 holds 6e-8 relative
            out[f"loss_{tag}"] = np.array(float(loss))
            grads = {k: p.grad.double().numpy().reshape(-1) for k, p in model.named_parameters()
                     if p.grad is not None}
            keys = [e for e in preset.layout.keys]
            # gradients by published key (the chain's own parameter names may change)
            from diffvox.contract import walk
            by_param = {}
            for entry in walk(model)[0]:
                for k, p in model.named_parameters():
                    if p is entry.parameter:
                        by_param[entry.key] = grads.get(k)
            out[f"grad_{tag}"] = np.concatenate([by_param[k] for k in keys])
            with torch.no_grad():
                model32 = preset.to_chain().eval()
                if tag in STAGE_CASES:
                    stages = model32.stages(x.float().view(1, 1, -1))
                    for s, v in stages.items():
                        out[f"stage_{s}_{tag}"] = v[0].numpy()
            try:
                out[f"exact_{tag}"] = render_exact(preset, x.numpy().astype(np.float32),
                                                   clip_q=0.707).astype(np.float32)
            except ValueError:
                pass
            decoded[tag] = preset.decode()
    out["dry"] = out["dry"].astype(np.float32)
    np.savez_compressed(ROOT / "tests" / "data" / "chain_snapshot.npz", **out)
    (ROOT / "tests" / "data" / "chain_snapshot_decoded.json").write_text(json.dumps(decoded) + "\n")
    print("wrote", len(out), "arrays")


if __name__ == "__main__":
    main()
