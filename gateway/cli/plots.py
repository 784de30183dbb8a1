"""The PNG plots of `bayesgate simulate` (matplotlib, imported only when plots are asked for)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np


def plot(title: str, filename: str, *, choices: Sequence[str],
         trace: Sequence[tuple[float, Mapping[str, tuple[float, float]]]], window: int,
         requests: int, out_dir: str) -> list[str]:
    """Share over time and posterior means with 90% bands, for one run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({n for _, snap in trace for n in snap} | set(choices))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for n in names:
        hit = np.array([c == n for c in choices], dtype=float)
        share = np.convolve(hit, np.ones(window) / window, mode="valid")
        ax1.plot(np.arange(window - 1, len(hit)), share, label=n)
    ax1.set_ylabel(f"share (last {window} requests)")
    ax1.set_title(title)
    ax1.legend(fontsize=8)
    draws = np.random.default_rng(0)
    for n in names:
        pts = [(i, snap[n]) for i, snap in trace if n in snap]
        if not pts:
            continue
        xs = np.array([i for i, _ in pts])
        samples = np.array([draws.beta(a, b, 400) for _, (a, b) in pts])
        ax2.plot(xs, [a / (a + b) for _, (a, b) in pts], label=n)
        ax2.fill_between(xs, np.quantile(samples, 0.05, axis=1),
                         np.quantile(samples, 0.95, axis=1), alpha=0.2)
    ax2.set_ylabel("posterior mean reward (90% band)")
    ax2.set_xlabel("request")
    ax2.set_xlim(0, requests)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, filename)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]
