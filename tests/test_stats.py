"""Tests for course_utils.stats: paired bootstrap, t-interval over seeds, claims -- on known answers."""

import math

import numpy as np
import pytest

from course_utils import metrics
from course_utils.exercises import ClaimFailed
from course_utils.stats import (
    Comparison,
    claim_better,
    paired_bootstrap,
    paired_bootstrap_catalog,
    repeat_over_seeds,
    seed_comparison,
)


def per_user_metric(n_users: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(n_users)


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


def test_identical_systems_give_a_zero_difference_and_a_zero_width_ci():
    a = per_user_metric(300)
    result = paired_bootstrap(a, a.copy())
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.share_above_zero == 0.0


def test_almost_identical_systems_give_a_tiny_ci_around_zero():
    a = per_user_metric(500)
    b = a + np.random.default_rng(1).normal(0, 1e-4, a.size)
    result = paired_bootstrap(a, b)
    assert result.ci_low < 0 < result.ci_high
    assert result.ci_high - result.ci_low < 2e-5  # about 2 * 1.96 * 1e-4 / sqrt(500) = 1.8e-5


def test_a_constant_shift_is_recovered_exactly():
    b = per_user_metric(200)
    result = paired_bootstrap(b + 0.25, b)
    assert result.difference == pytest.approx(0.25, abs=1e-12)
    assert result.ci_low == pytest.approx(0.25, abs=1e-12)
    assert result.ci_high == pytest.approx(0.25, abs=1e-12)
    assert result.share_above_zero == 1.0
    assert result.n == 200 and result.unit == "users" and result.n_resamples == 2000


def test_ci_width_matches_the_standard_error_of_the_mean_difference():
    rng = np.random.default_rng(3)
    differences = rng.normal(0.1, 1.0, 2000)
    result = paired_bootstrap(differences, np.zeros_like(differences), n_resamples=4000)
    expected_width = 2 * 1.959964 * differences.std(ddof=1) / math.sqrt(differences.size)
    assert result.ci_high - result.ci_low == pytest.approx(expected_width, rel=0.1)
    assert result.difference == pytest.approx(differences.mean())


def test_ci_covers_the_true_difference_about_95_percent_of_the_time():
    true_difference, n_datasets, n_users = 0.03, 200, 200
    rng = np.random.default_rng(7)
    covered = 0
    for dataset in range(n_datasets):
        relevance_b = rng.random(n_users)  # skewed per-user metrics, like NDCG in [0, 1]
        relevance_a = relevance_b + true_difference + rng.normal(0, 0.2, n_users)
        result = paired_bootstrap(relevance_a, relevance_b, n_resamples=1000, seed=dataset)
        covered += result.ci_low <= true_difference <= result.ci_high
    assert 0.90 <= covered / n_datasets <= 0.99


def test_users_with_nan_are_dropped_pairwise():
    a = per_user_metric(40, seed=1)
    b = per_user_metric(40, seed=2)
    a[[0, 5]] = np.nan  # e.g. users without test items
    b[[5, 9]] = np.nan
    kept = np.setdiff1d(np.arange(40), [0, 5, 9])
    with_nan = paired_bootstrap(a, b, seed=4)
    without = paired_bootstrap(a[kept], b[kept], seed=4)
    assert with_nan == without
    assert with_nan.n == 37


def test_bootstrap_is_deterministic_for_a_seed_and_varies_with_it():
    a, b = per_user_metric(100, 1), per_user_metric(100, 2)
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)
    assert paired_bootstrap(a, b, seed=5).ci_low != paired_bootstrap(a, b, seed=6).ci_low


def test_many_users_are_resampled_in_chunks_with_the_same_result_shape():
    differences = np.random.default_rng(0).normal(0.5, 1.0, 5000)  # 2000 x 5000 > one chunk
    result = paired_bootstrap(differences, np.zeros(5000), n_resamples=2000)
    assert result.ci_low < differences.mean() < result.ci_high


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros(20), np.zeros(21), "metric_a has 20 users but metric_b has 21"),
        (np.full(20, np.nan), np.zeros(20), "no user has a defined"),
        (np.zeros(5), np.zeros(5), "only 5 users .* at least 10"),
        (np.zeros((4, 5)), np.zeros((4, 5)), "1-D per-user arrays"),
        (np.r_[np.zeros(19), np.inf], np.zeros(20), "inf"),
    ],
)
def test_bad_per_user_metrics_get_clear_errors(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(a, b)


def test_bad_bootstrap_settings_are_rejected():
    a = per_user_metric(20)
    with pytest.raises(ValueError, match="confidence must lie in"):
        paired_bootstrap(a, a, confidence=95)
    with pytest.raises(ValueError, match="n_resamples must be at least 100"):
        paired_bootstrap(a, a, n_resamples=10)


# --------------------------------------------------------------------------------------------
# Repetition over seeds
# --------------------------------------------------------------------------------------------


def test_seed_comparison_is_the_hand_computed_t_interval():
    result = seed_comparison([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, s = sqrt(2.5), t_{0.975, 4} = 2.776445: half-width 2.776445 * sqrt(2.5) / sqrt(5) = 1.963243
    assert result.difference == 3.0
    assert result.ci_low == pytest.approx(1.036757, abs=1e-6)
    assert result.ci_high == pytest.approx(4.963243, abs=1e-6)
    assert result.share_above_zero == 1.0 and result.n == 5 and result.unit == "seeds"
    assert result.per_seed_differences == (1.0, 2.0, 3.0, 4.0, 5.0)


def test_repeat_over_seeds_passes_each_seed_and_subtracts_b_from_a():
    seen = []

    def run(seed: int) -> tuple[float, float]:
        seen.append(seed)
        return 0.5 + 0.01 * seed, 0.5  # known differences 0.01 * seed

    result = repeat_over_seeds(run, seeds=[1, 2, 3], metric="NDCG@10", names=("Mult-VAE", "Pop"))
    assert seen == [1, 2, 3]
    assert result.per_seed_differences == pytest.approx((0.01, 0.02, 0.03))
    assert result.difference == pytest.approx(0.02)
    assert (result.metric, result.system_a, result.system_b) == ("NDCG@10", "Mult-VAE", "Pop")


def test_equal_differences_over_seeds_give_a_zero_width_ci():
    result = repeat_over_seeds(lambda seed: (1.5, 1.0), seeds=range(4))
    assert (result.ci_low, result.difference, result.ci_high) == (0.5, 0.5, 0.5)


def test_bad_seed_input_gets_clear_errors():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_comparison([0.1])
    with pytest.raises(ValueError, match="finite"):
        seed_comparison([0.1, np.nan])
    with pytest.raises(TypeError, match=r"run\(0\) must return two floats"):
        repeat_over_seeds(lambda seed: 0.3, seeds=[0, 1])
    with pytest.raises(TypeError, match=r"run\(0\) must return two floats"):
        repeat_over_seeds(lambda seed: (np.zeros(3), np.zeros(3)), seeds=[0, 1])


# --------------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------------


def test_str_and_row_are_readable():
    bootstrap = Comparison(0.012, 0.004, 0.020, 0.99, 943, "users", n_resamples=2000,
                           metric="NDCG@10", system_a="Mult-VAE", system_b="Popularity")
    assert str(bootstrap) == "+0.012 [0.004, 0.020], 99% of resamples > 0"
    assert bootstrap.method == "95% CI, paired bootstrap over 943 users (2,000 resamples)"
    row = bootstrap.to_row()
    assert row == {"metric": "NDCG@10", "A": "Mult-VAE", "B": "Popularity", "A - B": 0.012,
                   "95% CI low": 0.004, "95% CI high": 0.020, "share > 0": 0.99, "n": 943, "over": "users"}
    seeds = Comparison(-0.0004, -0.0009, 0.0001, 0.2, 5, "seeds")
    assert str(seeds) == "-0.00040 [-0.00090, 0.00010], 1 of 5 seeds > 0"
    assert seeds.method == "95% CI, t-interval over 5 seeds"
    assert str(Comparison(0.0, 0.0, 0.0, 0.0, 5, "seeds")) == "+0.000 [0.000, 0.000], 0 of 5 seeds > 0"


def test_a_bootstrap_over_items_says_items():
    hits_a, hits_b = np.tile([1.0, 0.0, 1.0, 1.0], 10), np.tile([1.0, 0.0, 0.0, 1.0], 10)
    comparison = paired_bootstrap(hits_a, hits_b, metric="kNN accuracy", unit="items")
    assert comparison.method == "95% CI, paired bootstrap over 40 items (2,000 resamples)"
    assert comparison.difference == pytest.approx(0.25) and comparison.to_row()["over"] == "items"


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------

CLEAR_WIN = Comparison(0.012, 0.004, 0.020, 0.99, 943, "users", n_resamples=2000)
INCONCLUSIVE = Comparison(0.003, -0.002, 0.012, 0.80, 943, "users", n_resamples=2000)
CLEAR_LOSS = Comparison(-0.012, -0.020, -0.004, 0.01, 943, "users", n_resamples=2000)


def test_claim_holds_when_the_ci_excludes_zero(capsys):
    assert claim_better("Mult-VAE beats popularity", CLEAR_WIN) is True
    output = capsys.readouterr().out
    assert output.startswith("✅ Mult-VAE beats popularity (+0.012 [0.004, 0.020], 99% of resamples > 0;")


def test_inconclusive_claim_raises_when_required():
    with pytest.raises(ClaimFailed, match=r"inconclusive at this size: \+0.003 \[-0.002, 0.012\]"):
        claim_better("Mult-VAE beats popularity", INCONCLUSIVE, required=True)


def test_inconclusive_claim_warns_visibly_when_not_required(capsys):
    assert claim_better("Mult-VAE beats popularity", INCONCLUSIVE, required=False) is False
    output = capsys.readouterr().out
    assert output.startswith("⚠️")
    assert "inconclusive at this size: +0.003 [-0.002, 0.012], 80% of resamples > 0" in output


def test_a_ci_on_the_wrong_side_says_the_opposite_holds():
    with pytest.raises(ClaimFailed, match="the opposite holds"):
        claim_better("Mult-VAE beats popularity", CLEAR_LOSS)


def test_lower_is_better_flips_the_side(capsys):
    assert claim_better("re-ranking lowers the Gini index", CLEAR_LOSS, higher_is_better=False) is True
    assert capsys.readouterr().out.startswith("✅")
    with pytest.raises(ClaimFailed, match="the opposite holds"):
        claim_better("re-ranking lowers the Gini index", CLEAR_WIN, higher_is_better=False)


def test_claim_needs_a_comparison():
    with pytest.raises(TypeError, match="comparison must be a Comparison"):
        claim_better("A beats B", 0.012)


# --------------------------------------------------------------------------------------------
# Catalog-level statistics: paired_bootstrap_catalog
# --------------------------------------------------------------------------------------------


def _random_lists(rng, n_users, n_items, k=10):
    return np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])


def test_catalog_bootstrap_of_identical_systems_is_exactly_zero():
    lists = _random_lists(np.random.default_rng(0), 40, 50)
    for statistic in ("coverage", "gini"):
        same = paired_bootstrap_catalog(lists, lists.copy(), statistic, 50, n_resamples=200)
        assert (same.difference, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
        assert same.metric == statistic and same.unit == "users" and same.n == 40


def test_catalog_bootstrap_observes_the_difference_on_all_users():
    rng = np.random.default_rng(0)
    lists = _random_lists(rng, 40, 50)
    narrow = _random_lists(rng, 40, 20)  # only items 0-19
    coverage = paired_bootstrap_catalog(narrow, lists, "coverage", 50, n_resamples=200, seed=1)
    observed = metrics.catalog_coverage(narrow, 50) - metrics.catalog_coverage(lists, 50)
    assert np.isclose(coverage.difference, observed)
    assert coverage.ci_low <= coverage.difference <= coverage.ci_high < 0
    gini = paired_bootstrap_catalog(narrow, lists, "gini", 50, k=5, n_resamples=200)
    expected = metrics.gini_index(metrics.item_exposure(narrow, 50, 5)) - metrics.gini_index(
        metrics.item_exposure(lists, 50, 5)
    )
    assert np.isclose(gini.difference, expected) and gini.ci_low > 0


def test_catalog_bootstrap_accepts_any_statistic_of_exposure_rows():
    rng = np.random.default_rng(2)
    lists_a, lists_b = _random_lists(rng, 30, 40), _random_lists(rng, 30, 40)
    by_name = paired_bootstrap_catalog(lists_a, lists_b, "coverage", 40, n_resamples=150, seed=3)
    by_function = paired_bootstrap_catalog(
        lists_a, lists_b, metrics.exposure_coverage, 40, n_resamples=150, seed=3, metric="cov"
    )
    assert (by_name.difference, by_name.ci_low) == (by_function.difference, by_function.ci_low)
    assert by_function.metric == "cov"


def test_rounds_are_averaged_or_pooled():
    rng = np.random.default_rng(4)
    rounds_a = np.stack([_random_lists(rng, 25, 60, 5) for _ in range(3)])  # (3 rounds, 25 users, 5)
    rounds_b = np.stack([_random_lists(rng, 25, 30, 5) for _ in range(3)])
    mean_over_rounds = paired_bootstrap_catalog(rounds_a, rounds_b, "coverage", 60, n_resamples=150)
    expected = np.mean([metrics.catalog_coverage(a, 60) - metrics.catalog_coverage(b, 60)
                        for a, b in zip(rounds_a, rounds_b, strict=True)])
    assert np.isclose(mean_over_rounds.difference, expected)
    pooled = paired_bootstrap_catalog(rounds_a, rounds_b, "gini", 60, pool_rounds=True, n_resamples=150)
    exposure = lambda rounds: sum(metrics.item_exposure(lists, 60) for lists in rounds)  # noqa: E731
    expected = metrics.gini_index(exposure(rounds_a)) - metrics.gini_index(exposure(rounds_b))
    assert np.isclose(pooled.difference, expected)
    # an item shown to the same user in two rounds counts twice in the pooled exposure
    repeated = np.stack([rounds_a[0], rounds_a[0]])
    doubled = paired_bootstrap_catalog(repeated, rounds_b[:2], "gini", 60, pool_rounds=True, n_resamples=150)
    assert np.isclose(doubled.difference + metrics.gini_index(exposure(rounds_b[:2])),
                      metrics.gini_index(metrics.item_exposure(rounds_a[0], 60)))


def test_catalog_ci_covers_the_expected_difference_about_95_percent_of_the_time():
    # Users draw 5 items from a Zipf-like popularity (A flatter than B). A catalog statistic
    # depends on how many users are pooled, so the target is its expectation at n_users users
    # (the mean over 400 independent samples). The normal interval should cover it close to 95 %:
    # over 400 datasets it covers 93 % (at 80 users the bootstrap sd runs a little below the true sd).
    rng = np.random.default_rng(5)
    n_items, n_users = 60, 80
    weights_a, weights_b = 1 / np.arange(1, n_items + 1) ** 0.5, 1 / np.arange(1, n_items + 1) ** 1.2

    def sample(weights):
        return np.argsort(rng.gumbel(size=(n_users, n_items)) + np.log(weights), axis=1)[:, -5:]

    def gini(lists):
        return metrics.gini_index(metrics.item_exposure(lists, n_items))

    expected = np.mean([gini(sample(weights_a)) - gini(sample(weights_b)) for _ in range(400)])
    covered = []
    for seed in range(200):
        lists_a, lists_b = sample(weights_a), sample(weights_b)
        c = paired_bootstrap_catalog(lists_a, lists_b, "gini", n_items, n_resamples=200, seed=seed)
        covered.append(c.ci_low <= expected <= c.ci_high)
    assert 0.87 <= np.mean(covered) <= 0.99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lists_b": np.zeros((5, 10), dtype=int)}, "same rounds and users"),
        ({"statistic": "entropy"}, "unknown statistic"),
        ({"k": 11}, "larger than"),
        ({"lists_a": np.zeros(10, dtype=int)}, "rounds of lists"),
        ({"n_resamples": 10}, "at least 100"),
    ],
)
def test_bad_catalog_bootstrap_input_gets_clear_errors(kwargs, message):
    lists = _random_lists(np.random.default_rng(6), 20, 30)
    arguments = {"lists_a": lists, "lists_b": lists, "statistic": "coverage", "n_items": 30} | kwargs
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_catalog(**arguments)


def test_too_few_users_for_a_catalog_bootstrap():
    lists = _random_lists(np.random.default_rng(7), 5, 30)
    with pytest.raises(ValueError, match="at least 10"):
        paired_bootstrap_catalog(lists, lists, "coverage", 30)
