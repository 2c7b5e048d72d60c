"""Report figures (matplotlib, Agg backend): a radar chart per model and a Spearman heatmap between dimensions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from jaxquba import quba  # noqa: E402

# Radial range of the radar in signed z units; values beyond it are drawn on the rim and printed in the axis label.
_RADAR_LIMITS = (-4.0, 3.0)


def _axis_labels(signed_z: np.ndarray) -> list[str]:
    low, high = _RADAR_LIMITS
    labels = []
    for d, value in zip(quba.DIMENSIONS, signed_z):
        lines = [d.column] + (["(lower better)"] if d.direction < 0 else [])
        if not low <= value <= high:
            lines.append(f"off scale: {value:+.1f}")
        labels.append("\n".join(lines))
    return labels


def radar_chart(model: str, signed_z: np.ndarray, population_signed_z: np.ndarray, path: Path) -> Path:
    """Radar of one model's nine direction-signed z-scores (outward = better) against the published population:
    its median and its 10-90% band per dimension."""
    n = len(quba.DIMENSIONS)
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    closed = np.append(angles, angles[0])
    low, high = _RADAR_LIMITS

    def ring(values):
        return np.append(np.clip(values, low, high), np.clip(values[0], low, high))

    p10, p50, p90 = np.percentile(population_signed_z, [10, 50, 90], axis=0)
    fig, ax = plt.subplots(figsize=(6.4, 6.4), subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    ax.fill_between(closed, ring(p10), ring(p90), color="0.6", alpha=0.35, label="published 10–90%")
    ax.plot(closed, ring(p50), color="0.35", lw=1.2, ls="--", label="published median")
    ax.plot(closed, np.zeros_like(closed), color="0.2", lw=0.6, alpha=0.6)
    ax.plot(closed, ring(signed_z), color="tab:red", lw=2.2, marker="o", label=model)
    ax.set_ylim(low, high)
    ax.set_yticks([-3, -2, -1, 0, 1, 2])
    ax.set_yticklabels(["−3", "−2", "−1", "0", "+1", "+2"], fontsize=7, color="0.4")
    ax.set_xticks(angles)
    ax.set_xticklabels(_axis_labels(signed_z), fontsize=9)
    ax.tick_params(axis="x", pad=18)
    ax.set_title(f"{model}: z-scores (outward = better)", pad=24, fontsize=11)
    ax.legend(loc="upper right", bbox_to_anchor=(1.32, 1.12), fontsize=8, frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def spearman_matrix(values: np.ndarray) -> np.ndarray:
    """(9, 9) Spearman rank correlations between the dimensions over the rows of (n, 9) raw values."""
    correlation = spearmanr(values, nan_policy="omit").statistic
    return np.atleast_2d(correlation)


def spearman_heatmap(panels: dict[str, np.ndarray], path: Path) -> Path:
    """One heatmap per panel (title -> (n, 9) raw values) of the Spearman correlations between dimensions."""
    labels = [d.column for d in quba.DIMENSIONS]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.8 * len(panels), 5.8), squeeze=False,
                             gridspec_kw={"wspace": 0.45})
    for ax, (title, values) in zip(axes[0], panels.items()):
        correlation = spearman_matrix(values)
        image = ax.imshow(correlation, cmap="RdBu_r", vmin=-1, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if np.isfinite(correlation[i, j]):
                    ax.text(j, i, f"{correlation[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(correlation[i, j]) > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(f"{title} (n = {len(values)}, raw values)", fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="Spearman ρ")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
