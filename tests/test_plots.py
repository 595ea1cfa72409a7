"""Smoke tests for course_utils.plots: every figure function returns a Figure with labelled axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display: figures are drawn off-screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_labelled(fig: Figure, n_panels: int = 1) -> None:
    """``fig`` is a Figure whose ``n_panels`` data panels all have an x label, a y label and a title."""
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.has_data()]
    assert len(panels) == n_panels
    for ax in panels:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), ax


def test_use_course_style_sets_the_course_look():
    plots.use_course_style()
    assert plt.rcParams["axes.titleweight"] == "bold"


def test_image_grid_and_strip_show_every_image():
    images = np.random.default_rng(0).integers(0, 255, (5, 8, 8, 3), dtype=np.uint8)
    fig = plots.image_grid(images, titles=[f"item {i}" for i in range(5)], ncols=3, title="five items")
    assert isinstance(fig, Figure) and sum(len(ax.images) for ax in fig.axes) == 5
    assert fig._suptitle.get_text() == "five items"
    fig = plots.image_strip({"before": images[:3], "after": images[2:]}, title="before and after")
    assert isinstance(fig, Figure) and sum(len(ax.images) for ax in fig.axes) == 6
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["before", "after"]
    with pytest.raises(ValueError, match="titles for"):
        plots.image_grid(images, titles=["one"])


def test_plot_history():
    history = pd.DataFrame({"loss": [1.0, 0.5, 0.4], "valid": [1.1, 0.7, 0.6]}, index=[1, 2, 3])
    fig = plots.plot_history(history, title="loss falls")
    assert_labelled(fig)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(KeyError, match="not in the history"):
        plots.plot_history(history, keys=["accuracy"])


def test_embedding_map_pca():
    rng = np.random.default_rng(1)
    fig = plots.embedding_map(rng.normal(size=(30, 5)), labels=np.repeat(["a", "b", "c"], 10), title="map")
    assert_labelled(fig)
    assert fig.axes[0].get_xlabel() == "PCA 1"


def test_lorenz_curve_ends_at_one():
    fig = plots.lorenz_curve({"popular": np.array([0, 1, 9]), "even": np.array([3, 3, 4])})
    assert_labelled(fig)
    for line in fig.axes[0].lines:
        assert line.get_ydata()[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive total"):
        plots.lorenz_curve(np.zeros(3))


def test_tradeoff_frontier_one_line_per_method():
    results = pd.DataFrame(
        {
            "method": ["MMR"] * 3 + ["DPP"] * 3,
            "diversity": [0.0, 0.5, 1.0] * 2,
            "ILD": [0.2, 0.4, 0.6, 0.2, 0.5, 0.7],
            "NDCG": [0.3, 0.25, 0.1, 0.3, 0.27, 0.12],
        }
    )
    fig = plots.tradeoff_frontier(results, x="ILD", y="NDCG", hue="method", annotate="diversity")
    assert_labelled(fig)
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(KeyError, match="not in results columns"):
        plots.tradeoff_frontier(results, x="coverage", y="NDCG", hue="method")


def test_plot_rounds_draws_one_panel_per_metric():
    rounds = pd.DataFrame(
        {
            "round": [1, 2, 3] * 2,
            "policy": ["relevance only"] * 3 + ["MMR"] * 3,
            "ild": [0.3, 0.25, 0.2, 0.5, 0.5, 0.52],
            "utility": [1.0, 0.9, 0.8, 1.0, 1.0, 1.01],
        }
    )
    fig = plots.plot_rounds(
        rounds, {"ild": "slate ILD", "utility": "true utility"}, reference={"ild": 0.4}, ncols=2
    )
    assert_labelled(fig, n_panels=2)
    drawn = [ax for ax in fig.axes if ax.has_data()]
    assert len(drawn[0].lines) == 3 and len(drawn[1].lines) == 2  # two policies (+ the reference line)
    with pytest.raises(KeyError, match="not in the rounds columns"):
        plots.plot_rounds(rounds, {"accuracy": "accuracy"})
