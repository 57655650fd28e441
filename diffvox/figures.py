"""Helpers for the book's figures and tables: the chain's block diagram, labelled players,
the scan-benchmark figure, typeset parameter names, plain tick labels."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


def chain_diagram():
    """The DiffVox chain as a block diagram (a matplotlib Figure)."""
    fig, ax = plt.subplots(figsize=(7.6, 2.8))  # at most the page column: text stays >= 10 px
    ax.set(xlim=(0, 10.35), ylim=(0, 3.2))
    ax.axis("off")

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=color, ec="black", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)

    def arrow(a, b, text=None):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, lw=1, color="black"))
        if text:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, text, ha="center", fontsize=9)

    box(0.75, 1.25, 1.6, 0.8, "6-band\nparametric EQ", "#cfe2f3")
    box(2.8, 1.25, 1.6, 0.8, "compressor /\nexpander", "#d9ead3")
    box(5.3, 2.45, 1.4, 0.5, "pan", "#fff2cc")
    box(5.3, 1.25, 1.4, 0.8, "ping-pong\ndelay", "#fce5cd")
    box(6.9, 0.1, 1.4, 0.8, "FDN\nreverb", "#ead1dc")
    box(8.6, 1.25, 1.0, 0.8, "sum\n(stereo)", "#eeeeee")
    arrow((0.0, 1.65), (0.7, 1.65), "dry")
    arrow((2.4, 1.65), (2.75, 1.65))
    arrow((4.45, 1.65), (4.9, 1.65), "u")
    arrow((4.9, 1.65), (5.25, 2.7))
    arrow((4.9, 1.65), (5.25, 1.65))
    ax.plot([4.9, 4.9], [1.65, 0.5], color="black", lw=1)
    arrow((4.9, 0.5), (6.85, 0.5))
    arrow((6.0, 1.2), (7.2, 0.95))
    ax.text(6.75, 1.12, "send", ha="left", fontsize=9)
    arrow((6.75, 2.7), (8.55, 1.95))
    arrow((6.75, 1.65), (8.55, 1.65))
    arrow((8.35, 0.5), (8.6, 1.2))
    arrow((9.7, 1.65), (10.3, 1.65))
    ax.text(10.0, 1.8, "wet", ha="center", fontsize=9)
    return fig


LISTENING_LUFS = -23.0  # every player in the book plays at this loudness


def play(audio, label: str, lufs: float = LISTENING_LUFS, sr: int = 44100):
    """Show a labelled audio player: (T,) or (C, T) scaled to ``lufs`` (ITU-R BS.1770), so that
    every player in the book can be compared by ear. If that would clip, the scale is lowered
    to a peak of 0.99 and the label says so."""
    import numpy as np
    from IPython.display import Audio, Markdown, display

    from .matching.prepare import normalise_loudness

    data = normalise_loudness(np.asarray(audio, np.float32), lufs, sr)
    peak = float(np.abs(data).max())
    note = ""
    if peak > 0.99:
        data = data * (0.99 / peak)
        note = f" (quieter by {20 * np.log10(peak / 0.99):.1f} dB to avoid clipping)"
    display(Markdown(f"**{label}**{note}"), Audio(data, rate=sr, normalize=False))


SCAN_LABELS = {"ours": "ours", "ours_scan": "ours, float64 scan", "torchlpc_modal": "torchlpc (original approach)",
               "scipy": "scipy sosfilt", "torch_associative_scan": "torch associative scan",
               "python_loop": "Python loop"}


def scan_benchmark_figure(results, sweep: str, device: str):
    """One sweep of the IIR benchmark (``sweep`` "length" or "batch"; rows of
    ``diffvox.bench.iir.sweep``): forward and forward+backward side by side, one colour per
    method, the memory-bandwidth floor dashed, the legend below the axes."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4), sharey=True)
    sub = results[results["sweep"] == sweep]
    x = "T" if sweep == "length" else "rows"
    colors = {m: f"C{i}" for i, m in enumerate(SCAN_LABELS)}
    handles = {}
    for ax, which in zip(axes, ("fwd", "fwd+bwd")):
        part = sub[sub["pass"] == which]
        for method, g in part.groupby("method", sort=False):
            line, = ax.loglog(g[x], g["seconds"], "o-", color=colors.get(method, "gray"))
            handles.setdefault(SCAN_LABELS.get(method, method), line)
        floor = part.groupby(x)["bandwidth_floor_s"].first()
        line, = ax.loglog(floor.index, floor.values, "k--", lw=1)
        handles.setdefault("memory-bandwidth floor", line)
        ax.set(xlabel="samples T (8 rows)" if sweep == "length" else "rows (T = 16384)",
               title="forward" if which == "fwd" else "forward + backward")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"seconds per call ({device})")
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig


def html_name(name: str) -> str:
    """A parameter name in the paper's notation (``f_LP``, ``γ(e^{iπ44/48})``, ``α_RMS``) as
    HTML with italics, subscripts and superscripts, for tables."""
    import html
    import re

    m = re.fullmatch(r"γ\(e\^\{iπ(\d+)/(\d+)\}\)", name)
    if m:
        return f"<i>γ</i>(<i>e</i><sup><i>iπ</i>·{m.group(1)}/{m.group(2)}</sup>)"
    if re.fullmatch(r"[A-Za-zα-ω]", name):  # a one-letter symbol: d, b, c
        return f"<i>{name}</i>"
    if "_" in name:
        base, sub = name.split("_", 1)
        return f"<i>{html.escape(base)}</i><sub>{html.escape(sub)}</sub>"
    return html.escape(name)


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers (2.8, not 2.8x10^0); minor ticks too when the axis
    spans less than a decade (call after plotting)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if hi / lo < 3:  # less than half a decade: evenly spaced plain ticks read best
        from matplotlib.ticker import MaxNLocator, NullLocator

        target.set_major_locator(MaxNLocator(nbins=6))
        target.set_minor_locator(NullLocator())
    target.set_major_formatter(fmt)
    target.set_minor_formatter(fmt if hi / lo < 10 else NullFormatter())
