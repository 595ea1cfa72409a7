"""Tests for course_utils.data.simulate: the user model, the click model, utility and the logs."""

import numpy as np
import pytest
from scipy.special import expit

from course_utils.data.simulate import ATTRIBUTES, TasteConfig, UserSimulator, log_impressions

N_ATTRIBUTES = len(ATTRIBUTES)


def tiny_catalog(n_items=60, n_values=5, d=3, seed=0):
    """A tiny random catalog (tiny config for testing speed)."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, n_values, size=(n_items, N_ATTRIBUTES)),
        rng.normal(size=(n_items, d)),
        rng.normal(size=n_items),
    )


def tiny_simulator(n_users=20, seed=0, config=None):
    codes, visual, appeal = tiny_catalog()
    return UserSimulator.sample(
        codes, visual, appeal, n_users, np.random.default_rng(seed), config or TasteConfig()
    )


def flat_simulator(variety, base_logit=0.0):
    """Users who like every item equally (all taste weights 0), over 10 hand-made items.

    Items 0-4 share every attribute (a redundant slate); items 5-9 share none (a diverse one).
    """
    redundant = np.zeros((5, N_ATTRIBUTES), dtype=int)
    diverse = np.arange(1, 6)[:, None] * np.ones((1, N_ATTRIBUTES), dtype=int)
    codes = np.vstack([redundant, diverse])
    n_users = len(variety)
    return UserSimulator(
        item_codes=codes,
        visual=np.zeros((10, 2)),
        appeal=np.zeros(10),
        attribute_weights=tuple(np.zeros((n_users, 6)) for _ in ATTRIBUTES),
        visual_weights=np.zeros((n_users, 2)),
        base_logit=np.full(n_users, base_logit),
        popularity_sensitivity=np.zeros(n_users),
        variety_appetite=np.asarray(variety, dtype=float),
        position_decay=1.0,
    )


def test_shapes_and_ranges():
    sim = tiny_simulator()
    users = np.array([0, 3, 7])
    slates = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    relevance = sim.relevance(users)
    assert relevance.shape == (3, sim.n_items) and ((relevance > 0) & (relevance < 1)).all()
    assert sim.relevance().shape == (sim.n_users, sim.n_items)
    probabilities = sim.click_probabilities(users, slates)
    assert probabilities.shape == (3, 4) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert sim.click(users, slates, np.random.default_rng(0)).dtype == bool
    assert sim.utility(users, slates).shape == (3,)
    assert sim.item_similarity(slates).shape == (3, 4, 4)


def test_pairwise_affinity_matches_the_full_matrix():
    sim = tiny_simulator()
    users = np.array([1, 2])
    slates = np.array([[5, 9, 0], [1, 2, 3]])
    full = sim.affinity(users)
    np.testing.assert_allclose(
        sim._affinity_of_pairs(users[:, None], slates), np.take_along_axis(full, slates, 1)
    )


def test_same_seed_same_users_and_clicks():
    a, b = tiny_simulator(seed=3), tiny_simulator(seed=3)
    np.testing.assert_array_equal(a.relevance(), b.relevance())
    slates = np.tile(np.arange(10), (a.n_users, 1))
    users = np.arange(a.n_users)
    np.testing.assert_array_equal(
        a.click(users, slates, np.random.default_rng(1)), b.click(users, slates, np.random.default_rng(1))
    )
    assert not np.array_equal(a.relevance(), tiny_simulator(seed=4).relevance())


def test_utility_is_hand_computed_and_rewards_variety_only_for_variety_lovers():
    sim = flat_simulator(variety=[0.0, 1.0])
    redundant, diverse = np.arange(5), np.arange(5, 10)
    r = expit(0.0)
    examination = 1.0 / np.arange(1, 6)  # position_decay = 1
    # variety lover: positions 2..5 of the redundant slate repeat position 1 exactly -> worth 0
    np.testing.assert_allclose(sim.utility(np.array([1]), redundant[None]), [r * examination[0]])
    np.testing.assert_allclose(sim.utility(np.array([1]), diverse[None]), [r * examination.sum()])
    # variety-indifferent user: both slates are worth the same
    np.testing.assert_allclose(
        sim.utility(np.array([0, 0]), np.stack([redundant, diverse])), [r * examination.sum()] * 2
    )


def test_a_diverse_slate_beats_a_more_relevant_redundant_one_for_a_variety_lover():
    sim = flat_simulator(variety=[0.0, 1.0])
    weights = sim.attribute_weights[0]
    weights[:, 0] = 1.0  # both users like attribute value 0 -> the redundant items are more relevant
    users = np.array([0, 1])
    redundant, diverse = np.tile(np.arange(5), (2, 1)), np.tile(np.arange(5, 10), (2, 1))
    assert sim.utility(users, redundant)[0] > sim.utility(users, diverse)[0]  # indifferent: relevance wins
    assert sim.utility(users, diverse)[1] > sim.utility(users, redundant)[1]  # variety lover: diversity wins


def test_click_rate_responds_to_relevance_and_matches_the_probabilities():
    shy, keen = flat_simulator([0.0], base_logit=-2.0), flat_simulator([0.0], base_logit=2.0)
    rng = np.random.default_rng(0)
    users, slates = np.zeros(20_000, dtype=int), np.tile(np.arange(5, 10), (20_000, 1))
    shy_rate = shy.click(users, slates, rng).mean(axis=0)
    keen_rate = keen.click(users, slates, rng).mean(axis=0)
    assert (keen_rate > 3 * shy_rate).all()
    np.testing.assert_allclose(keen_rate, keen.click_probabilities(users[:1], slates[:1])[0], atol=0.015)
    assert shy_rate[0] > shy_rate[-1]  # position bias: the top is examined more


def test_storage_round_trip():
    sim = tiny_simulator()
    again = UserSimulator.from_arrays(sim.to_arrays())
    np.testing.assert_array_equal(again.affinity(), sim.affinity())
    assert again.position_decay == sim.position_decay
    with pytest.raises(ValueError, match="missing"):
        UserSimulator.from_arrays({"item_codes": sim.item_codes})


def test_logs_are_popularity_biased_and_give_every_user_enough_clicks():
    sim = tiny_simulator(n_users=30, config=TasteConfig(base_logit=-1.0))
    rng = np.random.default_rng(0)
    logs = log_impressions(sim, np.full(30, 8), rng, slate_size=5, min_clicks=3, max_sessions=60)
    assert list(logs.columns) == ["user", "item", "position", "timestamp", "clicked"]
    clicks = logs[logs["clicked"]]
    assert np.bincount(clicks["user"], minlength=30).min() >= 3
    assert not clicks.duplicated(["user", "item"]).any()  # a clicked item is never shown to that user again
    per_user = logs.groupby("user")["timestamp"]
    assert (per_user.apply(lambda t: t.is_monotonic_increasing)).all()
    # exposure follows appeal: the more appealing half of the catalog gets most impressions
    exposure = np.bincount(logs["item"], minlength=sim.n_items)
    appealing = sim.appeal > np.median(sim.appeal)
    assert exposure[appealing].sum() > 1.5 * exposure[~appealing].sum()


def test_logs_are_deterministic_for_a_seed():
    sim = tiny_simulator(n_users=10)
    a = log_impressions(sim, np.full(10, 4), np.random.default_rng(5), slate_size=5, max_sessions=20)
    b = log_impressions(sim, np.full(10, 4), np.random.default_rng(5), slate_size=5, max_sessions=20)
    assert a.equals(b)


def test_bad_input_gets_clear_errors():
    sim = tiny_simulator()
    with pytest.raises(ValueError, match="same item twice"):
        sim.utility(np.array([0]), np.array([[1, 2, 1]]))
    with pytest.raises(ValueError, match="one slate per user"):
        sim.click_probabilities(np.array([0, 1]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match=r"user ids must lie in \[0, 20\)"):
        sim.relevance(np.array([20]))
    with pytest.raises(ValueError, match="2-D integer array"):
        sim.utility(np.array([0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="item ids must lie"):
        sim.utility(np.array([0]), np.array([[0, 999]]))
    with pytest.raises(ValueError, match="slate_size"):
        log_impressions(sim, np.full(20, 2), np.random.default_rng(0), slate_size=1000)
    codes, visual, appeal = tiny_catalog()
    visual[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        UserSimulator.sample(codes, visual, appeal, 5, np.random.default_rng(0))


def test_session_intents_give_the_logs_their_order():
    """With persistent, focused intents, consecutive slates share their dominant category."""
    sim = tiny_simulator(n_users=30, config=TasteConfig(base_logit=-1.0))

    def slate_categories(**intents):
        logs = log_impressions(sim, np.full(30, 10), np.random.default_rng(0), slate_size=5, **intents)
        logs = logs.assign(
            category=sim.item_codes[logs["item"], 0], session=logs["timestamp"] - logs["position"]
        )
        return logs.groupby(["user", "session"])["category"].agg(lambda c: np.bincount(c).argmax())

    def repeat_rate(dominant):  # share of sessions whose dominant category equals the previous session's
        return np.mean([np.mean(d.to_numpy()[1:] == d.to_numpy()[:-1]) for _, d in dominant.groupby("user")])

    ordered = repeat_rate(slate_categories(intent_persistence=1.0, intent_focus=8.0))
    unordered = repeat_rate(slate_categories(intent_focus=0.0))
    assert ordered > 0.9  # the same page every visit
    assert unordered < 0.6
    with pytest.raises(ValueError, match="intent_persistence"):
        log_impressions(sim, np.full(30, 2), np.random.default_rng(0), intent_persistence=1.5)
