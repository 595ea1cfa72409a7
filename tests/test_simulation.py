"""The closed feedback loop (course_utils.simulation) on a tiny simulated shop, and the adaptive update."""

from functools import partial

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from course_utils import rerank
from course_utils.data.interactions import Interactions
from course_utils.data.simulate import UserSimulator
from course_utils.metrics import gini_index
from course_utils.models.recommenders import ItemKNN
from course_utils.simulation import (
    AdaptiveDiversityPolicy,
    RelevancePolicy,
    ReplayedWeightsPolicy,
    RerankPolicy,
    attribute_embeddings,
    describe_slates,
    first_clicks,
    inserted_items,
    last_logged_slates,
    play_round,
    run_feedback_loop,
    summarise,
    update_diversity_weights,
)

TINY_ITEMS, TINY_USERS, TINY_ROUNDS, TINY_K, TINY_CANDIDATES = 80, 24, 4, 4, 12  # small for test speed


@pytest.fixture(scope="module")
def tiny_shop():
    """A tiny catalog (80 items, 24 users) with a random starting log of 4 clicks per user."""
    rng = np.random.default_rng(7)
    codes = np.column_stack([rng.integers(0, size, TINY_ITEMS) for size in (5, 4, 3, 3, 2, 4)])
    codes[:5, :] = np.arange(5)[:, None] % np.array([5, 4, 3, 3, 2, 4])  # every attribute value occurs
    simulator = UserSimulator.sample(
        codes, rng.normal(size=(TINY_ITEMS, 3)), rng.normal(size=TINY_ITEMS), TINY_USERS, rng
    )
    rows = np.repeat(np.arange(TINY_USERS), 4)
    items = np.concatenate([rng.choice(TINY_ITEMS, 4, replace=False) for _ in range(TINY_USERS)])
    history = sp.csr_array((np.ones(rows.size, np.float32), (rows, items)), shape=(TINY_USERS, TINY_ITEMS))
    return simulator, history


def mmr_on(simulator):
    return partial(rerank.mmr, item_embeddings=attribute_embeddings(simulator))


def run(simulator, history, policy, **kwargs):
    settings = dict(n_rounds=TINY_ROUNDS, k=TINY_K, n_candidates=TINY_CANDIDATES, seed=3, progress=False)
    return run_feedback_loop(simulator, ItemKNN(neighbours=20), policy, history, **(settings | kwargs))


def test_same_seed_gives_the_same_simulation(tiny_shop):
    simulator, history = tiny_shop
    first = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.5, "MMR"))
    second = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.5, "MMR"))
    np.testing.assert_array_equal(first.slates, second.slates)
    np.testing.assert_array_equal(first.clicks, second.clicks)
    assert first.rounds.equals(second.rounds)
    other_seed = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.5, "MMR"), seed=4)
    assert not np.array_equal(first.clicks, other_seed.clicks)


def test_result_shapes_and_columns(tiny_shop):
    simulator, history = tiny_shop
    users = np.arange(0, TINY_USERS, 2)
    result = run(simulator, history, RelevancePolicy(), users=users)
    n = users.size
    assert result.slates.shape == result.clicks.shape == (TINY_ROUNDS, n, TINY_K)
    assert result.utility.shape == result.diversity_weights.shape == (TINY_ROUNDS, n)
    assert result.clicks.dtype == bool and result.slates.dtype == np.int64
    assert list(result.rounds["round"]) == list(range(1, TINY_ROUNDS + 1))
    expected = {
        "ild",
        "slate_entropy",
        "exposure_entropy",
        "new_items",
        "coverage",
        "cumulative_coverage",
        "gini",
        "clicks",
        "ctr",
        "utility",
        "diversity_weight",
    }
    assert expected <= set(result.rounds.columns)
    assert result.log.shape == history.shape
    # only the simulated users' rows of the log can grow
    unsimulated = np.setdiff1d(np.arange(TINY_USERS), users)
    assert (result.log[unsimulated] != history[unsimulated]).nnz == 0


def test_metrics_stay_in_range_and_coverage_never_shrinks(tiny_shop):
    simulator, history = tiny_shop
    rounds = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.7, "MMR"), n_rounds=6).rounds
    assert np.all(np.diff(rounds["cumulative_coverage"]) >= 0)
    assert np.all(rounds["cumulative_coverage"] >= rounds["coverage"])
    for column in ("ild", "new_items", "coverage", "gini", "ctr"):
        assert rounds[column].between(0, 1).all(), column
    assert rounds["new_items"].iloc[0] == 1.0  # nothing was shown before the first round
    assert rounds["slate_entropy"].between(0, np.log2(TINY_K)).all()
    assert (rounds["utility"] > 0).all()


def test_exposure_columns_are_the_users_and_items_totals_over_all_rounds(tiny_shop):
    # What the notebook recomputes per user from the slates: exposure entropy is the mean over users of the
    # entropy of each user's category counts summed over the rounds (repeats count), Gini is that of the
    # impressions per item summed over the rounds, coverage the share of items in a round's slates.
    simulator, history = tiny_shop
    result = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.5, "MMR"), n_rounds=6)
    categories = simulator.item_codes[:, 0]
    last = 3  # after round 3 of 6
    shown = categories[result.slates[:last]]  # (3, n_users, k)
    counts = (shown[..., None] == np.arange(categories.max() + 1)).sum(axis=(0, 2))
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(probabilities * np.log2(probabilities), axis=1)
    row = result.rounds.iloc[last - 1]
    assert row["exposure_entropy"] == pytest.approx(entropy.mean())
    impressions = np.bincount(result.slates[:last].ravel(), minlength=TINY_ITEMS)
    assert row["gini"] == pytest.approx(gini_index(impressions))
    assert row["coverage"] == pytest.approx(np.unique(result.slates[last - 1]).size / TINY_ITEMS)


def test_clicks_are_logged_and_clicked_items_never_come_back(tiny_shop):
    simulator, history = tiny_shop
    before = history.copy()
    result = run(simulator, history, RelevancePolicy())
    assert (history != before).nnz == 0, "the caller's history matrix was modified"
    assert result.log.nnz == history.nnz + result.clicks.sum()
    log = history.toarray().astype(bool)
    for slates, clicks in zip(result.slates, result.clicks, strict=True):
        rows = np.arange(TINY_USERS)[:, None]
        assert not log[rows, slates].any(), "a slate shows an item the user already clicked"
        log[rows, slates] |= clicks
    np.testing.assert_array_equal(log, result.log.toarray().astype(bool))


def test_zero_diversity_is_the_plain_ranking(tiny_shop):
    simulator, history = tiny_shop
    relevance_only = run(simulator, history, RelevancePolicy())
    zero_weight = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.0, "MMR at 0"))
    np.testing.assert_array_equal(relevance_only.slates, zero_weight.slates)
    # the plain ranking: highest score first, ties by item id, clicked items left out
    scores = ItemKNN(neighbours=20).fit(history).score(np.arange(TINY_USERS)).astype(np.float64)
    scores[history.toarray() > 0] = -np.inf
    plain = np.stack([np.lexsort((np.arange(TINY_ITEMS), -row))[:TINY_K] for row in scores])
    np.testing.assert_array_equal(relevance_only.slates[0], plain)


def test_diversity_raises_slate_diversity(tiny_shop):
    simulator, history = tiny_shop
    plain = run(simulator, history, RelevancePolicy()).rounds["ild"].iloc[0]
    diverse = run(simulator, history, RerankPolicy(mmr_on(simulator), 0.9, "MMR")).rounds["ild"].iloc[0]
    assert diverse > plain


def test_inserted_items_marks_items_outside_the_relevance_top_k():
    slates = np.array([[1, 7, 2, 9], [4, 5, 6, 3]])
    relevance = np.array([[1, 2, 3, 4], [3, 4, 5, 6]])
    expected = np.array([[False, True, False, True], [False, False, False, False]])
    np.testing.assert_array_equal(inserted_items(slates, relevance), expected)


def test_update_moves_each_weight_towards_what_the_user_clicked():
    relevance = np.array([[0, 1, 2, 3]] * 4)
    slates = np.array([[0, 1, 8, 9]] * 3 + [[0, 1, 2, 3]])  # positions 2, 3 inserted (last user: none)
    clicks = np.array(
        [
            [0, 0, 1, 0],  # clicked an inserted item only
            [1, 0, 0, 0],  # clicked a kept item only
            [1, 0, 1, 0],  # one of each
            [1, 1, 0, 0],  # nothing was inserted: no evidence
        ],
        dtype=bool,
    )
    examination = np.array([1.0, 0.5, 0.5, 0.25])
    weights = np.full(4, 0.5)
    new = update_diversity_weights(
        weights, slates, clicks, relevance, examination, step_size=0.1, bounds=(0.0, 1.0)
    )
    # user 0: a_D = 1 / (0.5 + 0.25), a_K = 0 -> +0.1 * 4/3; user 1: a_K = 1 / 1.5 -> -0.1 * 2/3
    # user 2: 4/3 - 2/3 = 2/3 -> +0.1 * 2/3 (the inserted click came from a less-examined position)
    np.testing.assert_allclose(new, [0.5 + 0.4 / 3, 0.5 - 0.2 / 3, 0.5 + 0.2 / 3, 0.5])
    clipped = update_diversity_weights(
        weights, slates, clicks, relevance, examination, step_size=10, bounds=(0.1, 0.9)
    )
    np.testing.assert_allclose(clipped, [0.9, 0.1, 0.9, 0.5])


def test_update_rejects_bad_input():
    slates = np.array([[0, 1]])
    good = dict(slates=slates, clicks=np.zeros((1, 2), bool), relevance_slates=slates, examination=np.ones(2))
    with pytest.raises(ValueError, match="bounds"):
        update_diversity_weights(np.zeros(1), **good, bounds=(0.8, 0.2))
    with pytest.raises(ValueError, match="weights must have shape"):
        update_diversity_weights(np.zeros(3), **good)
    with pytest.raises(ValueError, match="examination"):
        update_diversity_weights(np.zeros(1), **(good | {"examination": np.array([1.0, 0.0])}))
    with pytest.raises(ValueError, match="share one"):
        update_diversity_weights(np.zeros(1), **(good | {"clicks": np.zeros((1, 3), bool)}))


def test_adaptive_weights_stay_in_bounds_and_use_the_reranker_per_weight(tiny_shop):
    simulator, history = tiny_shop
    bounds = (0.1, 0.6)
    policy = AdaptiveDiversityPolicy(
        mmr_on(simulator),
        TINY_USERS,
        simulator.examination(TINY_K),
        initial=0.3,
        step_size=2.0,
        bounds=bounds,
    )
    result = run(simulator, history, policy, n_rounds=6)
    assert (result.diversity_weights >= bounds[0]).all() and (result.diversity_weights <= bounds[1]).all()
    assert np.allclose(result.diversity_weights[0], 0.3)
    assert not np.allclose(result.diversity_weights[-1], 0.3), "no weight moved in six rounds"
    # a group of users sharing one weight gets exactly what the re-ranker gives at that weight
    rng = np.random.default_rng(0)
    candidates = np.stack([rng.permutation(TINY_ITEMS)[:TINY_CANDIDATES] for _ in range(TINY_USERS)])
    relevance = -np.sort(rng.random((TINY_USERS, TINY_CANDIDATES)), axis=1)
    policy.weights[:] = np.where(np.arange(TINY_USERS) % 2, 0.2, 0.5)
    slates = policy.recommend(np.arange(TINY_USERS), candidates, relevance, TINY_K)
    odd = np.arange(TINY_USERS) % 2 == 1
    np.testing.assert_array_equal(
        slates[odd], rerank.mmr(candidates[odd], relevance[odd], attribute_embeddings(simulator), TINY_K, 0.2)
    )


def test_replaying_the_adaptive_weights_reproduces_the_run_and_shuffling_changes_it(tiny_shop):
    simulator, history = tiny_shop
    adaptive = run(
        simulator,
        history,
        AdaptiveDiversityPolicy(mmr_on(simulator), TINY_USERS, simulator.examination(TINY_K), step_size=2.0),
        n_rounds=5,
    )
    replayed = run(
        simulator,
        history,
        ReplayedWeightsPolicy(mmr_on(simulator), adaptive.diversity_weights, "r"),
        n_rounds=5,
    )
    np.testing.assert_array_equal(replayed.slates, adaptive.slates)
    np.testing.assert_array_equal(replayed.diversity_weights, adaptive.diversity_weights)
    permutation = np.random.default_rng(0).permutation(TINY_USERS)
    shuffled = run(
        simulator,
        history,
        ReplayedWeightsPolicy(mmr_on(simulator), adaptive.diversity_weights[:, permutation], "s"),
        n_rounds=5,
    )
    np.testing.assert_array_equal(shuffled.diversity_weights, adaptive.diversity_weights[:, permutation])
    # same weights per round, in the same distribution, but given to other users
    np.testing.assert_allclose(
        np.sort(shuffled.diversity_weights, axis=1), np.sort(adaptive.diversity_weights, axis=1)
    )
    assert not np.array_equal(shuffled.slates, adaptive.slates)


def test_replayed_weights_refuse_a_schedule_that_does_not_fit(tiny_shop):
    simulator, history = tiny_shop
    with pytest.raises(ValueError, match="must lie in"):
        ReplayedWeightsPolicy(mmr_on(simulator), np.full((2, TINY_USERS), 1.5), "bad")
    with pytest.raises(ValueError, match="the loop asked for round 3"):
        run(
            simulator,
            history,
            ReplayedWeightsPolicy(mmr_on(simulator), np.full((2, TINY_USERS), 0.5), "short"),
        )
    with pytest.raises(ValueError, match="weights for 5 users"):
        run(simulator, history, ReplayedWeightsPolicy(mmr_on(simulator), np.full((4, 5), 0.5), "narrow"))


def test_one_round_logs_exactly_the_clicked_items_of_the_right_users(tiny_shop):
    simulator, history = tiny_shop
    users = np.array([1, 5, 9, 20])
    before = history.copy()
    result = play_round(
        simulator,
        ItemKNN(neighbours=20),
        RelevancePolicy(),
        history,
        users,
        TINY_K,
        TINY_CANDIDATES,
        np.random.default_rng(0),
    )
    assert (history != before).nnz == 0  # the caller's log is not modified
    assert not np.take_along_axis(history[users].toarray(), result.slates, axis=1).any()  # clicked: excluded
    expected = history.toarray()
    for row, position in zip(*np.nonzero(result.clicks), strict=True):
        expected[users[row], result.slates[row, position]] = 1.0
    np.testing.assert_array_equal(result.log.toarray(), expected)
    np.testing.assert_array_equal(result.slates, result.candidates[:, :TINY_K])  # relevance order


def test_attribute_embeddings_reproduce_the_simulators_item_similarity(tiny_shop):
    simulator, _ = tiny_shop
    embeddings = attribute_embeddings(simulator)
    items = np.arange(10)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    np.testing.assert_allclose(unit[items] @ unit[items].T, simulator.item_similarity(items[None])[0])


def test_loop_rejects_bad_settings(tiny_shop):
    simulator, history = tiny_shop
    with pytest.raises(ValueError, match="history must have shape"):
        run(simulator, history[:5], RelevancePolicy())
    with pytest.raises(ValueError, match="n_candidates"):
        run(simulator, history, RelevancePolicy(), k=20, n_candidates=10)
    with pytest.raises(ValueError, match="n_rounds"):
        run(simulator, history, RelevancePolicy(), n_rounds=0)
    with pytest.raises(ValueError, match="non-empty 1-D array of integer ids"):
        run(simulator, history, RelevancePolicy(), users=np.array([], dtype=int))
    with pytest.raises(ValueError, match="diversity must be in"):
        RerankPolicy(mmr_on(simulator), 1.5, "MMR")
    with pytest.raises(ValueError, match="initial"):
        AdaptiveDiversityPolicy(mmr_on(simulator), TINY_USERS, np.ones(TINY_K), initial=0.99)


def test_last_logged_slates_takes_each_users_last_complete_session():
    impressions = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1, 1, 1],
            "item": [5, 6, 7, 8, 1, 2, 3],
            "position": [0, 1, 0, 1, 0, 1, 0],
            "timestamp": [100, 101, 200, 201, 50, 51, 90],  # user 1's last session is incomplete
        }
    )
    users, slates = last_logged_slates(impressions, k=2)
    np.testing.assert_array_equal(users, [0])
    np.testing.assert_array_equal(slates, [[7, 8]])
    with pytest.raises(ValueError, match="missing column"):
        last_logged_slates(impressions.drop(columns="timestamp"), k=2)


def test_first_clicks_keeps_each_users_earliest_clicks_in_time_order():
    impressions = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 0, 1, 1],
            "item": [4, 5, 6, 7, 4, 1, 2],
            "timestamp": [300, 100, 200, 50, 10, 20, 10],
            "clicked": [True, True, True, False, True, True, False],
        }
    )
    clicks = impressions[impressions["clicked"]]  # as load_fashion_shop builds its interactions
    early = first_clicks(Interactions.from_events(clicks, n_users=3, n_items=8), 2)
    assert early.shape == (3, 8)
    # user 0 clicked 4 (t=10), 5 (t=100), 6 (t=200), 4 again (t=300): the first two distinct items
    np.testing.assert_array_equal(early.toarray()[0].nonzero()[0], [4, 5])
    np.testing.assert_array_equal(early.toarray()[1].nonzero()[0], [1])  # one click only
    assert early.toarray()[2].sum() == 0  # no clicks
    with pytest.raises(ValueError, match="positive integer"):
        first_clicks(Interactions.from_events(clicks, n_users=3, n_items=8), 0)


def test_describe_slates_and_summarise(tiny_shop):
    simulator, history = tiny_shop
    users = np.arange(3)
    slates = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]])
    described = describe_slates(simulator, users, slates)
    assert described["coverage"] == 8 / TINY_ITEMS
    assert np.isclose(described["utility"], simulator.utility(users, slates).mean())
    with pytest.raises(ValueError, match="one slate per user"):
        describe_slates(simulator, users[:2], slates)
    runs = [
        run(simulator, history, RelevancePolicy()),
        run(simulator, history, RerankPolicy(mmr_on(simulator), 0.9, "MMR")),
    ]
    table = summarise(runs)
    assert list(table.index) == ["relevance only", "MMR"]
    assert table.loc["relevance only", "utility_change"] == 0.0
    assert np.isclose(table.loc["MMR", "utility"], runs[1].utility.mean())
    assert np.isclose(table.loc["MMR", "coverage"], runs[1].rounds["coverage"].mean())
    with pytest.raises(ValueError, match="unknown baseline"):
        summarise(runs, baseline="popularity")
