"""Exercises of notebook 09 (model fusion): weighted fusion with normalisation (09.1), the validation
weight search (09.2) and a cascade stage (09.3)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from course_utils.exercises import Exercise, Mistake, assert_close
from course_utils.models import score_fusion


def _fuse(scores, weights, normalise):
    return sum(weights[name] * normalise(values) for name, values in scores.items())


def _row_minmax(values, axis=-1):
    low, high = values.min(axis=axis, keepdims=True), values.max(axis=axis, keepdims=True)
    return (values - low) / (high - low)


_FUSION_SLIPS = [
    (lambda v: v, "the scorers were fused unnormalised: min-max normalise each scorer's scores first."),
    (
        lambda v: (v - v.min()) / (v.max() - v.min()),
        "normalise each row (user) on its own, not the whole matrix at once.",
    ),
    (
        lambda v: _row_minmax(v, axis=0),
        "normalise along each row (axis=-1, one user's items), not down the columns.",
    ),
    (
        lambda v: (v - v.mean(-1, keepdims=True)) / v.std(-1, keepdims=True),
        "use min-max normalisation, not a z-score.",
    ),
]


def _test_weighted_fusion(candidate) -> None:
    rng = np.random.default_rng(0)
    cf, text = rng.normal(size=(3, 6)), 1000.0 * rng.normal(size=(3, 6)) + 50.0  # very different scales
    scores, weights = {"cf": cf, "text": text}, {"cf": 0.7, "text": 0.3}
    expected = score_fusion.weighted_fusion(scores, weights, "minmax")
    fused = np.asarray(candidate(scores, weights), dtype=float)
    if fused.shape != expected.shape:
        raise AssertionError(f"the result should have shape {expected.shape}, got {fused.shape}.")
    for normalise, message in _FUSION_SLIPS:
        if np.allclose(fused, _fuse(scores, weights, normalise)):
            raise AssertionError(message)
    if np.allclose(fused, _fuse(scores, {"cf": 1.0, "text": 1.0}, _row_minmax)):
        raise AssertionError("the weights were ignored: multiply each normalised scorer by its weight.")
    only_cf = candidate(scores, {"cf": 1.0, "text": 0.0})
    assert_close(
        only_cf,
        score_fusion.normalize_scores(cf, "minmax"),
        "the fusion with weights cf=1, text=0 (it should be cf's min-max normalised scores, per row)",
    )
    assert_close(
        fused, expected, "the fusion with weights cf=0.7, text=0.3 (normalise each row before weighting)"
    )
    article = candidate(
        {"model 1": np.array([[1.0, 0, 1, 1]]), "model 2": np.array([[0.0, 1, 1, 0]])},
        {"model 1": 0.5, "model 2": 0.5},
    )
    assert_close(article, [[0.5, 0.5, 1.0, 0.5]], "the fusion of the article's §4.4 example")


def _fusion_slip(index):
    return lambda scores, weights: _fuse(scores, weights, _FUSION_SLIPS[index][0])


def _fusion_with_ptp(scores, weights):
    total = np.zeros_like(next(iter(scores.values())), dtype=float)
    for name in scores:
        values = scores[name]
        total += weights[name] * (values - values.min(axis=1)[:, None]) / np.ptp(values, axis=1)[:, None]
    return total


weighted_fusion = Exercise(
    "Weighted fusion with min-max normalisation",
    test=_test_weighted_fusion,
    hints=(
        "Scorers live on different scales (a cosine in [-1, 1], a CF score in the hundreds): bring each to "
        "[0, 1] for every user before you weigh and add them.",
        "For each scorer, min-max normalise every row (user) on its own: (s - row min) / (row max - "
        "row min), "
        "with keepdims so the shapes broadcast. Then add weights[name] times the normalised scores.",
    ),
    reference=score_fusion.weighted_fusion,
    solution="""
    def weighted_fusion(scores, weights):
        fused = 0.0
        for name, s in scores.items():
            low, high = s.min(axis=-1, keepdims=True), s.max(axis=-1, keepdims=True)
            fused = fused + weights[name] * (s - low) / (high - low)
        return fused
    """,
    mistakes=[
        Mistake("no normalisation", _fusion_slip(0), "fused unnormalised"),
        Mistake("global min-max", _fusion_slip(1), "normalise each row (user) on its own"),
        Mistake("min-max down the columns", _fusion_slip(2), "not down the columns"),
        Mistake("z-score", _fusion_slip(3), "not a z-score"),
        Mistake(
            "weights ignored",
            lambda scores, weights: _fuse(scores, dict.fromkeys(scores, 1.0), _row_minmax),
            "the weights were ignored",
        ),
    ],
    alternatives=[lambda scores, weights: _fuse(scores, weights, _row_minmax), _fusion_with_ptp],
)


def _test_keep_top_candidates(candidate) -> None:
    candidates = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [2.0, -1.0, 3.0, 0.0]])
    kept = np.asarray(candidate(candidates, scores, 2))
    if kept.shape != (2, 2):
        raise AssertionError(
            f"keeping 2 of 4 candidates for 2 users should give shape (2, 2), got {kept.shape}: "
            "sort within each row (axis=-1)."
        )
    slips = {
        "[[1, 2], [2, 0]]": "these are positions: return the item ids, candidates[user, position].",
        "[[10, 13], [21, 23]]": "these are the *worst* candidates: sort by decreasing score.",
        "[[10, 11], [20, 21]]": "these are the first candidates of each row: keep the best-*scored* ones.",
        "[[11, 12], [20, 22]]": "right items, wrong order: list them best first, by decreasing score.",
    }
    if str(kept.tolist()) in slips:
        raise AssertionError(
            f"expected the item ids [[11, 12], [22, 20]], got {kept.tolist()}: {slips[str(kept.tolist())]}"
        )
    assert kept.tolist() == [[11, 12], [22, 20]], (
        f"expected the item ids [[11, 12], [22, 20]] (best first), got {kept.tolist()}."
    )
    rng = np.random.default_rng(1)
    many = rng.permutation(100)[None, :50].repeat(3, axis=0)
    many_scores = rng.normal(size=(3, 50))
    assert_close(
        candidate(many, many_scores, 7),
        score_fusion.keep_top_candidates(many, many_scores, 7),
        "the 7 best of 50 random candidates",
    )


def _keep_by_loop(candidates, scores, keep):
    return np.array(
        [
            [item for _, item in sorted(zip(row_scores, row, strict=True), reverse=True)][:keep]
            for row, row_scores in zip(candidates, scores, strict=True)
        ]
    )


keep_top_candidates = Exercise(
    "A cascade stage: keep the best candidates",
    test=_test_keep_top_candidates,
    hints=(
        "Sort each user's candidates by their score, best first, and keep the first `keep`. Sorting gives "
        "you positions within the row: translate them back into item ids.",
        "np.argsort of the negated scores along the last axis gives, per row, the positions from best to "
        "worst; keep the first `keep` columns, and pick the item ids at those positions with "
        "np.take_along_axis.",
    ),
    reference=score_fusion.keep_top_candidates,
    mistakes=[
        Mistake(
            "positions instead of ids",
            lambda c, s, keep: np.argsort(-s, axis=1)[:, :keep],
            "these are positions",
        ),
        Mistake(
            "ascending sort",
            lambda c, s, keep: np.take_along_axis(c, np.argsort(s, axis=1)[:, :keep], axis=1),
            "the *worst* candidates",
        ),
        Mistake("first candidates", lambda c, s, keep: c[:, :keep], "keep the best-*scored* ones"),
        Mistake(
            "kept ids sorted by id",
            lambda c, s, keep: np.sort(
                np.take_along_axis(c, np.argsort(-s, axis=1)[:, :keep], axis=1), axis=1
            ),
            "wrong order",
        ),
    ],
    alternatives=[
        _keep_by_loop,
        lambda c, s, keep: np.take_along_axis(c, np.argsort(s, axis=1)[:, ::-1][:, :keep], axis=1),
    ],
)


# --------------------------------------------------------------------------------------------
# Exercise 09.2: the weight search on validation
# --------------------------------------------------------------------------------------------


def search_fusion_weights(
    scores: Mapping[str, np.ndarray],
    evaluate: Callable[[np.ndarray], float],
    step: float,
    normalization: str = "minmax",
) -> pd.DataFrame:
    """Every weight vector of the simplex grid with the objective of its fused scores.

    The grid holds the weights ``w_i in {0, step, 2 step, ..., 1}`` with ``sum_i w_i = 1``
    (``1 / step`` must be a whole number). Each scorer is normalised once (``normalization``,
    see ``score_fusion.normalize_scores``); for every weight vector the fused scores
    ``sum_i w_i * normalised_i`` are passed to ``evaluate`` (e.g. validation NDCG@10). Returns one
    row per weight vector: a column per scorer (its weight) and ``objective``. The choice among
    the rows is ``protocol.select_on_validation``'s job.
    """
    n_steps = round(1 / step)
    if n_steps < 1 or not np.isclose(n_steps * step, 1.0):
        raise ValueError(f"step must divide 1 into whole steps (e.g. 0.1 or 0.25), got {step}")
    names = list(scores)
    normalised = {
        name: score_fusion.normalize_scores(values, normalization) for name, values in scores.items()
    }
    rows = []
    for counts in itertools.product(range(n_steps + 1), repeat=len(names)):  # integer grid: exact sums
        if sum(counts) == n_steps:
            weights = {name: count / n_steps for name, count in zip(names, counts, strict=True)}
            fused = score_fusion.weighted_fusion(normalised, weights, normalization=None)
            rows.append({**weights, "objective": float(evaluate(fused))})
    return pd.DataFrame(rows)


def _weight_search_fixture():
    rng = np.random.default_rng(3)
    scores = {
        "cf": 40.0 * rng.normal(size=(4, 8)) + 100.0,  # three scales, as in the notebook
        "text": 0.1 * rng.normal(size=(4, 8)),
        "image": rng.uniform(-1, 1, size=(4, 8)),
    }
    target = rng.normal(size=(4, 8))
    return scores, (lambda fused: float((np.where(np.isfinite(fused), fused, 0.0) * target).sum()))


def _grid_points(frame: pd.DataFrame, names: list[str]) -> list[tuple[float, ...]]:
    return [tuple(round(float(w), 6) for w in row) for row in frame[names].to_numpy()]


def _test_weight_search(candidate) -> None:
    scores, evaluate = _weight_search_fixture()
    names = list(scores)
    result = candidate(scores, evaluate, 0.1, "minmax")
    if not isinstance(result, pd.DataFrame):
        raise AssertionError(
            f"return a pandas DataFrame (one row per weight vector), got {type(result).__name__}."
        )
    missing_columns = [column for column in [*names, "objective"] if column not in result.columns]
    if missing_columns:
        raise AssertionError(
            f"the DataFrame needs a column per scorer ({names}) and 'objective'; missing {missing_columns}."
        )
    expected = search_fusion_weights(scores, evaluate, 0.1, "minmax")
    if len(result) == 1:
        raise AssertionError(
            "return every candidate of the grid (one row per weight vector), not only the best: the "
            "choice is made afterwards by protocol.select_on_validation."
        )
    points = _grid_points(result, names)
    if any(not np.isclose(sum(point), 1.0, atol=1e-6) for point in points):
        raise AssertionError(
            "some weight vectors do not sum to 1: keep only the points of the simplex "
            "(sum of the weights = 1)."
        )
    if len(set(points)) != len(points):
        raise AssertionError("a weight vector appears twice: list each point of the grid once.")
    missing = set(_grid_points(expected, names)) - set(points)
    if missing and all(1.0 in point for point in missing):
        raise AssertionError(
            "the grid misses the weight 1.0 (each scorer alone): np.arange(0, 1, step) stops before 1."
        )
    if missing:
        raise AssertionError(
            f"{len(missing)} of the {len(expected)} grid points are missing (e.g. {sorted(missing)[0]}): "
            "0.1 + 0.2 + 0.7 is not exactly 1.0 in floating point -- compare the sum with a tolerance "
            "(np.isclose) or build the grid from whole numbers of steps."
        )
    merged = expected.merge(
        result.assign(**{name: result[name].round(6) for name in names}),
        on=names,
        suffixes=("", "_yours"),
    )
    raw = [
        evaluate(sum(weights[n] * scores[n] for n in names)) for weights in merged[names].to_dict("records")
    ]
    if np.allclose(merged["objective_yours"], raw):
        raise AssertionError(
            "the scorers were fused unnormalised: normalise each scorer's scores (per user) before weighting."
        )
    assert_close(
        merged["objective_yours"], merged["objective"], "the objective of each weight vector (min-max)"
    )
    ranked = candidate(scores, evaluate, 0.1, "rank")
    if isinstance(ranked, pd.DataFrame) and set(names) <= set(ranked.columns) and "objective" in ranked:
        expected_rank = search_fusion_weights(scores, evaluate, 0.1, "rank")
        check = expected_rank.merge(
            ranked.assign(**{n: ranked[n].round(6) for n in names}), on=names, suffixes=("", "_yours")
        )
        if len(check) == len(expected_rank) and np.allclose(
            check["objective_yours"], merged["objective_yours"]
        ):
            raise AssertionError(
                "normalization='rank' gave the same objectives as 'minmax': pass the `normalization` "
                "argument on to the normalisation (the notebook searches all three)."
            )
        assert_close(check["objective_yours"], check["objective"], "the objectives with normalization='rank'")


def _search_with_grid(grid_values, keep_point, normalise=True):
    """A learner's search: ``grid_values(step)`` per axis, ``keep_point(weights)`` filters the grid."""

    def search(scores, evaluate, step, normalization="minmax"):
        names = list(scores)
        ready = {
            n: score_fusion.normalize_scores(s, normalization) if normalise else s for n, s in scores.items()
        }
        rows = []
        for weights in itertools.product(grid_values(step), repeat=len(names)):
            if keep_point(weights):
                fused = sum(w * ready[n] for n, w in zip(names, weights, strict=True))
                rows.append({**dict(zip(names, weights, strict=True)), "objective": evaluate(fused)})
        return pd.DataFrame(rows)

    return search


def _full_grid(step):
    return np.linspace(0, 1, round(1 / step) + 1)


def _on_simplex(weights):
    return np.isclose(sum(weights), 1.0)


def _best_only(scores, evaluate, step, normalization="minmax"):
    found = search_fusion_weights(scores, evaluate, step, normalization)
    return found.loc[[found["objective"].idxmax()]]


def _minmax_always(scores, evaluate, step, normalization="minmax"):
    return search_fusion_weights(scores, evaluate, step, "minmax")


def _search_by_recursion(scores, evaluate, step, normalization="minmax"):
    names, n_steps = list(scores), round(1 / step)
    normalised = {n: score_fusion.normalize_scores(s, normalization) for n, s in scores.items()}

    def compositions(total, parts):
        if parts == 1:
            yield (total,)
            return
        for first in range(total + 1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    rows = []
    for counts in compositions(n_steps, len(names)):
        weights = dict(zip(names, np.array(counts) / n_steps, strict=True))
        fused = score_fusion.weighted_fusion(normalised, weights, normalization=None)
        rows.append({**weights, "objective": evaluate(fused)})
    return pd.DataFrame(rows)


weight_search = Exercise(
    "The weight search on validation",
    test=_test_weight_search,
    hints=(
        "Weights are hyper-parameters: try every point of a regular grid on the simplex (non-negative "
        "weights that add up to one), score each fusion with the validation objective, and return them all.",
        "Normalise every scorer once, before the loop. Loop over itertools.product of the grid values, one "
        "per scorer; keep the tuples whose sum is 1 (with a tolerance, or count whole steps); fuse with "
        "weighted_fusion(..., normalization=None) and collect a dict of the weights plus 'objective' per "
        "point; build a DataFrame from the list.",
    ),
    reference=search_fusion_weights,
    mistakes=[
        Mistake(
            "grid without the endpoint 1.0",
            _search_with_grid(lambda step: np.arange(0, 1, step), _on_simplex),
            "misses the weight 1.0",
        ),
        Mistake("no simplex filter", _search_with_grid(_full_grid, lambda w: True), "do not sum to 1"),
        Mistake(
            "exact float comparison of the sum",
            _search_with_grid(lambda step: np.arange(0, 1 + step / 2, step), lambda w: sum(w) == 1),
            "with a tolerance",
        ),
        Mistake(
            "no normalisation", _search_with_grid(_full_grid, _on_simplex, normalise=False), "unnormalised"
        ),
        Mistake("normalization argument ignored", _minmax_always, "pass the `normalization`"),
        Mistake("only the best row", _best_only, "not only the best"),
    ],
    alternatives=[_search_with_grid(_full_grid, _on_simplex), _search_by_recursion],
)
