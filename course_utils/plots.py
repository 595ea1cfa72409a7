"""One plotting style for the whole course, and the handful of figures every notebook needs.

Each function draws one kind of figure and returns the matplotlib ``Figure`` (or draws into
the ``ax`` you pass). Titles should state the finding, not the variables: pass ``title=``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_utils.config import fast_mode

PALETTE = "colorblind"


def use_course_style() -> None:
    """Apply the course's look: seaborn 'whitegrid', colour-blind palette, readable sizes."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    plt.rcParams.update(
        {"figure.dpi": 100, "savefig.dpi": 120, "axes.titleweight": "bold", "figure.autolayout": True}
    )


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
    cell_size: float = 1.4,
    title_width: int = 18,
) -> Figure:
    """Show images (N, H, W) or (N, H, W, 3), uint8 or floats in [0, 1], in a grid.

    Titles are wrapped at ``title_width`` characters so long item titles stay readable.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"expected a non-empty (N, H, W[, 3]) array, got shape {images.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_size * ncols, (cell_size + 0.55) * nrows + 0.4), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        ax.imshow(images[index], cmap="gray" if images.ndim == 3 else None)
        if titles is not None:
            ax.set_title(
                textwrap.fill(str(titles[index]), width=title_width), fontsize=7, fontweight="normal"
            )
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig


def image_strip(
    rows: dict[str, np.ndarray],
    captions: dict[str, Sequence[str]] | None = None,
    title: str | None = None,
    cell_size: float = 1.3,
) -> Figure:
    """Several labelled rows of images, e.g. ``{"before": imgs_a, "after": imgs_b}`` for a list."""
    if not rows:
        raise ValueError("rows is empty")
    ncols = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(cell_size * ncols + 1, cell_size * len(rows) + 0.5), squeeze=False
    )
    for row_axes, (label, images) in zip(axes, rows.items(), strict=True):
        for col, ax in enumerate(row_axes):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(images):
                ax.imshow(images[col])
                if captions and label in captions:
                    ax.set_title(captions[label][col], fontsize=7, fontweight="normal")
        row_axes[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title, fontweight="bold")
    return fig


def plot_history(
    history, keys: Sequence[str] | None = None, title: str = "Training curves", ax: Axes | None = None
) -> Figure:
    """Plot the per-epoch values of a ``course_utils.train.History`` (or a DataFrame)."""
    frame = history if isinstance(history, pd.DataFrame) else history.frame()
    keys = list(keys) if keys is not None else list(frame.columns)
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise KeyError(f"{missing} not in the history; available: {list(frame.columns)}")
    fig, ax = _axes(ax, (6, 3.5))
    for key in keys:
        ax.plot(frame.index, frame[key], marker="o", markersize=3, label=key)
    ax.set(xlabel="epoch", ylabel="value", title=title)
    ax.legend()
    return fig


def embedding_map(
    embeddings: np.ndarray,
    labels: Sequence,
    method: str = "pca",
    title: str | None = None,
    ax: Axes | None = None,
    seed: int = 0,
    max_points: int = 3000,
) -> Figure:
    """2-D map of embeddings (PCA or t-SNE, via scikit-learn) coloured by ``labels``.

    t-SNE costs tens of seconds on a 2-core CPU, so in fast mode (``COURSE_FAST=1``) the map
    falls back to PCA and its title says so.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise ValueError(f"need (N, D) embeddings and N labels, got {embeddings.shape} and {labels.shape}")
    if len(embeddings) > max_points:
        keep = np.random.default_rng(seed).choice(len(embeddings), max_points, replace=False)
        embeddings, labels = embeddings[keep], labels[keep]
    if method == "tsne" and fast_mode():
        method, title = "pca", f"{title or 'map'} [PCA: t-SNE is skipped in fast mode]"
    if method == "pca":
        points = PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    elif method == "tsne":
        points = TSNE(
            n_components=2, init="pca", random_state=seed, perplexity=min(30, len(embeddings) - 1)
        ).fit_transform(embeddings)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    fig, ax = _axes(ax, (6, 5))
    sns.scatterplot(
        x=points[:, 0],
        y=points[:, 1],
        hue=labels,
        s=8,
        linewidth=0,
        ax=ax,
        palette="tab10" if len(np.unique(labels)) <= 10 else "husl",
    )
    ax.set(xlabel=f"{method.upper()} 1", ylabel=f"{method.upper()} 2", title=title or f"{method.upper()} map")
    ax.legend(markerscale=2, fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig


def lorenz_curve(
    counts: np.ndarray | dict[str, np.ndarray], title: str = "Lorenz curve", ax: Axes | None = None
) -> Figure:
    """Lorenz curve(s) of counts (e.g. exposures per item): the share of all exposures held by the
    least-exposed x% of items. The diagonal is perfect equality."""
    series = counts if isinstance(counts, dict) else {"observed": counts}
    fig, ax = _axes(ax, (4.8, 4.5))
    for label, values in series.items():
        values = np.sort(np.asarray(values, dtype=float))
        if values.size == 0 or values.sum() <= 0 or (values < 0).any():
            raise ValueError(f"{label!r}: counts must be non-negative with a positive total")
        share = np.concatenate([[0.0], np.cumsum(values) / values.sum()])
        ax.plot(np.linspace(0, 1, len(share)), share, label=label)
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect equality")
    ax.set(xlabel="share of items (least exposed first)", ylabel="cumulative share of the total", title=title)
    ax.set_aspect("equal")
    ax.legend(fontsize=8)
    return fig


def tradeoff_frontier(
    results: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    title: str | None = None,
    annotate: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Accuracy-diversity trade-off: one line per method (``hue``), points in parameter order.

    ``results`` has one row per (method, parameter value). ``annotate`` names a column whose
    values are written next to the points (e.g. the trade-off parameter) and give the order in
    which the points are joined; without it, points are joined in order of ``x``.
    """
    for column in (x, y, hue, *([annotate] if annotate else [])):
        if column not in results.columns:
            raise KeyError(f"{column!r} not in results columns {list(results.columns)}")
    fig, ax = _axes(ax, (6.5, 4.5))
    for method, group in results.groupby(hue, sort=False):
        # connect the points in parameter order when it is known: a re-ranker's diversity need
        # not grow monotonically with its parameter, and sorting by x would draw a false zigzag
        group = group.sort_values(annotate or x)
        ax.plot(group[x], group[y], marker="o", markersize=4, label=str(method))
        if annotate:
            for _, row in group.iterrows():
                ax.annotate(
                    f"{row[annotate]:g}",
                    (row[x], row[y]),
                    fontsize=6,
                    xytext=(2, 2),
                    textcoords="offset points",
                )
    ax.set(xlabel=x, ylabel=y, title=title or f"{y} vs {x}")
    ax.legend(fontsize=8)
    return fig


def plot_rounds(
    rounds: pd.DataFrame,
    metrics: dict[str, str],
    reference: dict[str, float] | None = None,
    reference_label: str = "logging policy",
    title: str | None = None,
    ncols: int = 3,
) -> Figure:
    """One panel per metric over the rounds of a feedback loop, one line per policy.

    ``rounds``: the concatenated ``simulation.FeedbackLoopResult.rounds`` of several policies
    (columns ``round``, ``policy`` and the metrics); ``metrics``: column -> axis label;
    ``reference``: column -> a value drawn as a dashed line (e.g. what the logging policy showed).
    """
    missing = [column for column in metrics if column not in rounds.columns]
    if missing:
        raise KeyError(f"{missing} not in the rounds columns {list(rounds.columns)}")
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, (column, label) in zip(axes.flat, metrics.items(), strict=False):  # spare axes stay empty
        for policy, group in rounds.groupby("policy", sort=False):
            ax.plot(group["round"], group[column], marker="o", markersize=3, label=policy)
        if reference and column in reference:
            ax.axhline(reference[column], color="grey", linestyle="--", linewidth=1, label=reference_label)
        ax.set(xlabel="round", ylabel=label, title=label)
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1 : len(metrics)]:  # a panel may have the reference line when the first does not
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(
        handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.02), frameon=False
    )
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
