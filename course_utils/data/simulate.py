"""Simulated shoppers for the Fashion Shop: tastes, clicks, true utility, and the logs they leave.

The same :class:`UserSimulator` builds the shipped click logs (``datasets/fashion_shop/build.py``
imports this module) and later plays the "true user" in the feedback-loop notebook (12).

The user model, for user ``u`` and item ``i``:

* **Taste** (a logit). ``a[u, i] = b[u] + sum_A W_A[u, A(i)] + v[u] . x_i + s[u] * q_i`` where
  ``A`` runs over the attributes category, colour, material, style, season, brand (``A(i)`` is
  the item's value), ``x_i`` are the item's visual features (principal components of its
  image after removing its category's mean image: shape details such as sleeves, cut and
  texture), ``q_i`` its intrinsic appeal and ``s[u] >= 0`` the user's popularity sensitivity.
  Each taste weight is a population-wide part plus a personal part, so content predicts
  clicks for everyone *and* differently per user. Material, style, season and brand are
  visible only in the text; colour and shape only in the image; category in both.
* **Attraction** ``r[u, i] = sigmoid(a[u, i])``: the probability of a click once the item is seen.
* **Clicks** follow a position-based model (Craswell et al. 2008; Joachims et al. 2017):
  ``P(click at position p) = e[p] * r[u, i_p] * (1 - w[u] * d_p)`` with examination
  probability ``e[p] = (p + 1) ** -position_decay`` (``p`` 0-based), appetite for variety
  ``w[u]`` in ``[0, 1]`` and redundancy ``d_p = max_{p' < p} sim(i_p, i_p')``, where ``sim`` is
  the fraction of the six attributes two items share. A variety-loving user gets bored of
  the fifth near-identical tee; a variety-indifferent user (``w = 0``) does not.
* **True utility** of a slate = its expected number of clicks under that model. Redundancy has
  diminishing returns, so for variety lovers a diverse slate can beat a more relevant,
  repetitive one -- the quantity that accuracy metrics on logged clicks cannot see.

The logging policy (:func:`log_impressions`) is popularity-biased: slates are sampled by the
Gumbel-top-k trick (Kool et al. 2019) from ``softmax(popularity_weight * log(popularity) +
personalisation * a[u, :] + intent_focus * [category(i) = c_us])``, where popularity counts the
clicks logged so far (rich get richer) plus a merchandising prior. The logs therefore carry
exposure bias, as real ones do.

**Session intents** give the logs their order. Each visit ``s`` starts on one category page
``c_us`` (the shopper looking for boots opens "Ankle boots"), and the shop fills most of the
slate from that category. The intent persists from one visit to the next with probability
``intent_persistence`` (a shopper comes back for the boots she has not found yet) and is
otherwise drawn afresh from the shopper's own category taste, ``P(c) = softmax(W_category[u])``.
The user model above does not change -- intents decide what is *shown*, not what attracts --
but a shopper's next click now depends on her recent clicks, which is what sequential
recommenders such as SASRec (Kang & McAuley 2018) and session-based ones (Hidasi et al. 2016)
exploit; a model that ignores order, popularity included, cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

ATTRIBUTES = ("category", "colour", "material", "style", "season", "brand")
TEXT_ONLY_ATTRIBUTES = ("material", "style", "season", "brand")
IMAGE_ONLY_ATTRIBUTES = ("colour",)  # plus the visual (shape) features
DAY = 86_400  # seconds
MIN_SESSION_GAP = 60  # seconds between the starts of a user's consecutive sessions


@dataclass(frozen=True)
class TasteConfig:
    """How strongly each part of an item drives the taste logit (standard deviations)."""

    attribute_scales: Mapping[str, float] = field(
        default_factory=lambda: {
            "category": 1.0,
            "colour": 1.1,
            "material": 0.8,
            "style": 0.8,
            "season": 0.7,
            "brand": 0.8,
        }
    )
    visual_scale: float = 1.0  # std of v[u] . x_i over items
    shared_fraction: float = 0.5  # share of each weight's variance common to all users
    base_logit: float = -4.4  # mean b[u]; sets the overall click-through rate
    base_logit_std: float = 0.4
    popularity_sensitivity: float = 0.5  # mean of s[u] (gamma distributed)
    variety_appetite: tuple[float, float] = (1.0, 1.2)  # Beta(alpha, beta) of w[u]


@dataclass(frozen=True)
class UserSimulator:
    """A population of simulated users over a fixed catalog (see the module docstring).

    Item side: ``item_codes`` (n_items, 6) attribute value ids in the order of ``ATTRIBUTES``,
    ``visual`` (n_items, d) standardised shape features, ``appeal`` (n_items,).
    User side: ``attribute_weights`` (one (n_users, n_values) array per attribute),
    ``visual_weights`` (n_users, d), ``base_logit``, ``popularity_sensitivity``,
    ``variety_appetite`` (each (n_users,)). ``position_decay`` is the exponent of the
    examination curve.
    """

    item_codes: np.ndarray
    visual: np.ndarray
    appeal: np.ndarray
    attribute_weights: tuple[np.ndarray, ...]
    visual_weights: np.ndarray
    base_logit: np.ndarray
    popularity_sensitivity: np.ndarray
    variety_appetite: np.ndarray
    position_decay: float = 0.8

    @classmethod
    def sample(
        cls,
        item_codes: np.ndarray,
        visual: np.ndarray,
        appeal: np.ndarray,
        n_users: int,
        rng: np.random.Generator,
        config: TasteConfig = TasteConfig(),
    ) -> UserSimulator:
        """Draw ``n_users`` users for a catalog; every random number comes from ``rng``.

        A taste weight is ``W_A[u, value] = m_A[value] + e_A[u, value]`` with a population part
        ``m ~ N(0, f * scale**2)`` and a personal part ``e ~ N(0, (1 - f) * scale**2)``,
        ``f = config.shared_fraction``. Visual weights follow the same recipe with variance
        split over the ``d`` features. ``s[u] ~ Gamma(2, mean / 2)``, ``w[u] ~ Beta(alpha, beta)``.
        """
        item_codes, visual, appeal = _check_catalog(item_codes, visual, appeal)
        if n_users < 1:
            raise ValueError(f"n_users must be positive, got {n_users}")
        shared, personal = np.sqrt(config.shared_fraction), np.sqrt(1 - config.shared_fraction)
        weights = []
        for column, attribute in enumerate(ATTRIBUTES):
            n_values = int(item_codes[:, column].max()) + 1
            scale = config.attribute_scales[attribute]
            population = rng.normal(0.0, shared * scale, size=n_values)
            weights.append(population + rng.normal(0.0, personal * scale, size=(n_users, n_values)))
        d = visual.shape[1]
        visual_scale = config.visual_scale / np.sqrt(d)
        visual_weights = rng.normal(0.0, shared * visual_scale, size=d) + rng.normal(
            0.0, personal * visual_scale, size=(n_users, d)
        )
        base = rng.normal(config.base_logit, config.base_logit_std, size=n_users)
        sensitivity = rng.gamma(2.0, config.popularity_sensitivity / 2.0, size=n_users)
        variety = rng.beta(*config.variety_appetite, size=n_users)
        return cls(item_codes, visual, appeal, tuple(weights), visual_weights, base, sensitivity, variety)

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of simulated users."""
        return len(self.base_logit)

    @property
    def n_items(self) -> int:
        """Number of catalog items."""
        return len(self.appeal)

    # -- the user model --------------------------------------------------------------------
    def affinity(self, users: np.ndarray | None = None) -> np.ndarray:
        """Taste logits ``a[u, i]`` (module docstring), shape (len(users), n_items); all users if None."""
        users = self._check_users(users)
        logits = (
            self.base_logit[users, None] + self.popularity_sensitivity[users, None] * self.appeal[None, :]
        )
        for column, weights in enumerate(self.attribute_weights):
            logits = logits + weights[np.ix_(users, self.item_codes[:, column])]  # (n, n_items)
        return logits + self.visual_weights[users] @ self.visual.T  # (n, d) @ (d, n_items)

    def relevance(self, users: np.ndarray | None = None) -> np.ndarray:
        """Attraction ``r[u, i] = sigmoid(a[u, i])`` in (0, 1), shape (len(users), n_items)."""
        return expit(self.affinity(users))

    def examination(self, k: int) -> np.ndarray:
        """Probability that positions ``0..k-1`` are looked at: ``(p + 1) ** -position_decay``."""
        if k < 1:
            raise ValueError(f"a slate needs at least one position, got k={k}")
        return np.arange(1, k + 1, dtype=float) ** -self.position_decay

    def item_similarity(self, slates: np.ndarray) -> np.ndarray:
        """Fraction of the six attributes shared by each pair of slate items, (n, k, k) in [0, 1]."""
        slates = self._check_slates(slates)
        codes = self.item_codes[slates]  # (n, k, n_attributes)
        return (codes[:, :, None, :] == codes[:, None, :, :]).mean(axis=-1)

    def click_probabilities(self, users: np.ndarray, slates: np.ndarray) -> np.ndarray:
        """``P(click)`` per slate position, ``e[p] * r[u, i_p] * (1 - w[u] * d_p)``, shape (n, k).

        ``slates[j]`` is the ranked list shown to ``users[j]`` (distinct item ids, best first).
        """
        users = self._check_users(users)
        slates = self._check_slates(slates)
        if len(users) != len(slates):
            raise ValueError(f"got {len(users)} users but {len(slates)} slates: one slate per user")
        k = slates.shape[1]
        attraction = expit(self._affinity_of_pairs(users[:, None], slates))  # (n, k)
        similarity = self.item_similarity(slates)  # (n, k, k)
        earlier = np.tril(np.ones((k, k), dtype=bool), k=-1)  # [p, p'] = p' < p
        redundancy = np.where(earlier, similarity, 0.0).max(axis=2)  # (n, k); 0 at position 0
        boredom = 1.0 - self.variety_appetite[users, None] * redundancy
        return self.examination(k)[None, :] * attraction * boredom

    def click(self, users: np.ndarray, slates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sample clicks, a boolean array (n, k), from :meth:`click_probabilities`."""
        probabilities = self.click_probabilities(users, slates)
        return rng.random(probabilities.shape) < probabilities

    def utility(self, users: np.ndarray, slates: np.ndarray) -> np.ndarray:
        """True utility of each slate: its expected number of clicks, shape (n,).

        It rewards relevance at the top and charges each user's appetite for variety for
        redundancy, so it is the yardstick for "is this list actually better for this user".
        """
        return self.click_probabilities(users, slates).sum(axis=1)

    # -- storage -----------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """All parameters as named numpy arrays (for ``np.savez``; no pickling needed)."""
        arrays = {
            "item_codes": self.item_codes,
            "visual": self.visual,
            "appeal": self.appeal,
            "visual_weights": self.visual_weights,
            "base_logit": self.base_logit,
            "popularity_sensitivity": self.popularity_sensitivity,
            "variety_appetite": self.variety_appetite,
            "position_decay": np.asarray(self.position_decay),
        }
        for attribute, weights in zip(ATTRIBUTES, self.attribute_weights, strict=True):
            arrays[f"weights_{attribute}"] = weights
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> UserSimulator:
        """Inverse of :meth:`to_arrays`."""
        missing = [name for name in ("item_codes", "visual", "appeal", "base_logit") if name not in arrays]
        missing += [f"weights_{a}" for a in ATTRIBUTES if f"weights_{a}" not in arrays]
        if missing:
            raise ValueError(f"simulator arrays are missing {missing}")
        return cls(
            item_codes=np.asarray(arrays["item_codes"]),
            visual=np.asarray(arrays["visual"]),
            appeal=np.asarray(arrays["appeal"]),
            attribute_weights=tuple(np.asarray(arrays[f"weights_{a}"]) for a in ATTRIBUTES),
            visual_weights=np.asarray(arrays["visual_weights"]),
            base_logit=np.asarray(arrays["base_logit"]),
            popularity_sensitivity=np.asarray(arrays["popularity_sensitivity"]),
            variety_appetite=np.asarray(arrays["variety_appetite"]),
            position_decay=float(arrays["position_decay"]),
        )

    @classmethod
    def from_shop(cls, shop) -> UserSimulator:
        """The simulator that generated a loaded Fashion Shop: ``shop.simulator``, type-checked."""
        simulator = getattr(shop, "simulator", None)
        if not isinstance(simulator, cls):
            raise TypeError(f"expected the result of load_fashion_shop(), got {type(shop).__name__}")
        return simulator

    # -- helpers -----------------------------------------------------------------------------
    def _affinity_of_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``a[u, i]`` for broadcastable id arrays, without building the full (users, items) matrix."""
        logits = self.base_logit[users] + self.popularity_sensitivity[users] * self.appeal[items]
        for column, weights in enumerate(self.attribute_weights):
            logits = logits + weights[users, self.item_codes[items, column]]
        return logits + np.einsum("...d,...d->...", self.visual_weights[users], self.visual[items])

    def _check_users(self, users: np.ndarray | None) -> np.ndarray:
        if users is None:
            return np.arange(self.n_users)
        users = np.asarray(users)
        if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer):
            raise ValueError(
                f"users must be a 1-D array of integer ids, got shape {users.shape} dtype {users.dtype}"
            )
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"user ids must lie in [0, {self.n_users}), got [{users.min()}, {users.max()}]")
        return users

    def _check_slates(self, slates: np.ndarray) -> np.ndarray:
        slates = np.asarray(slates)
        if slates.ndim != 2 or not np.issubdtype(slates.dtype, np.integer) or slates.shape[1] == 0:
            raise ValueError(
                f"slates must be a 2-D integer array (n_users, k) with k >= 1, got shape {slates.shape} "
                f"dtype {slates.dtype}"
            )
        if slates.size and (slates.min() < 0 or slates.max() >= self.n_items):
            raise ValueError(
                f"item ids must lie in [0, {self.n_items}), got [{slates.min()}, {slates.max()}]"
            )
        ordered = np.sort(slates, axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise ValueError("a slate lists the same item twice: items within a slate must be distinct")
        return slates


def _check_catalog(item_codes: np.ndarray, visual: np.ndarray, appeal: np.ndarray) -> tuple[np.ndarray, ...]:
    item_codes, visual, appeal = np.asarray(item_codes), np.asarray(visual, float), np.asarray(appeal, float)
    n_items = len(appeal)
    if item_codes.shape != (n_items, len(ATTRIBUTES)) or not np.issubdtype(item_codes.dtype, np.integer):
        raise ValueError(
            f"item_codes must be integers of shape ({n_items}, {len(ATTRIBUTES)}), got {item_codes.shape}"
        )
    if item_codes.min() < 0:
        raise ValueError("item_codes must be non-negative attribute value ids")
    if visual.ndim != 2 or len(visual) != n_items:
        raise ValueError(f"visual must have shape ({n_items}, d), got {visual.shape}")
    if not (np.isfinite(visual).all() and np.isfinite(appeal).all()):
        raise ValueError("visual features and appeal must be finite (found NaN or inf)")
    return item_codes, visual, appeal


def _sample_categories(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of ``probabilities`` ``(n, n_categories)`` (inverse-CDF sampling)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random((len(probabilities), 1)) * cumulative[:, -1:]
    return (draws >= cumulative).sum(axis=1)


def log_impressions(
    simulator: UserSimulator,
    sessions_per_user: np.ndarray,
    rng: np.random.Generator,
    slate_size: int = 10,
    min_clicks: int = 5,
    max_sessions: int = 200,
    popularity_weight: float = 1.0,
    personalisation: float = 0.3,
    prior_strength: float = 5.0,
    intent_persistence: float = 0.75,
    intent_focus: float = 3.0,
    start_timestamp: int = 1_709_251_200,  # 2024-03-01 00:00 UTC
    span_days: float = 90.0,
) -> pd.DataFrame:
    """Run the popularity-biased logging policy and the click model; return the impressions.

    Sessions happen in rounds; in round ``t`` every user with ``t < sessions_per_user[u]``
    (or still below ``min_clicks`` clicks; nobody gets more than ``max_sessions``, so a user
    who rarely clicks may end below ``min_clicks``: check the result) opens the page of her
    session intent ``c`` (module docstring: kept from her previous session with probability
    ``intent_persistence``, else drawn from ``softmax(W_category[u])``) and sees one slate
    sampled without replacement from
    ``softmax(popularity_weight * log(pop) + personalisation * a[u] + intent_focus * [category = c])``
    by the Gumbel-top-k trick (Kool et al. 2019), skipping items the user already clicked.
    ``pop_i = prior_strength * exp(q_i) / mean(exp(q)) + clicks_i`` is updated after every round.
    ``intent_focus = 0`` (or ``intent_persistence = 0`` with a flat taste) removes the order.
    Session times are spread over ``span_days`` per user (at least ``MIN_SESSION_GAP`` seconds
    apart); an impression's timestamp is its session's start plus its position in seconds, so
    rows sort in reading order and ``timestamp - position`` identifies the session.

    Returns a DataFrame ``user, item, position, timestamp, clicked`` sorted by user and time.
    """
    sessions_per_user = np.asarray(sessions_per_user)
    n_users, n_items = simulator.n_users, simulator.n_items
    if sessions_per_user.shape != (n_users,) or (sessions_per_user < 1).any():
        raise ValueError(f"sessions_per_user must be positive integers of shape ({n_users},)")
    if not 1 <= slate_size <= n_items:
        raise ValueError(f"slate_size must lie in [1, {n_items}] (the catalog size), got {slate_size}")
    if not 0.0 <= intent_persistence <= 1.0:
        raise ValueError(f"intent_persistence is a probability in [0, 1], got {intent_persistence}")

    affinity = simulator.affinity()  # (n_users, n_items)
    prior = np.exp(simulator.appeal) / np.exp(simulator.appeal).mean()
    item_clicks = np.zeros(n_items)
    user_clicks = np.zeros(n_users, dtype=int)
    already_clicked = np.zeros((n_users, n_items), dtype=bool)
    first_session = rng.uniform(0, 0.15 * span_days * DAY, size=n_users)
    mean_gap = 0.85 * span_days * DAY / sessions_per_user  # (n_users,)
    gaps = MIN_SESSION_GAP + rng.exponential(1.0, size=(n_users, max_sessions)) * mean_gap[:, None]
    session_start = first_session[:, None] + np.cumsum(gaps, axis=1) - gaps[:, :1]  # (n_users, max_sessions)

    categories = simulator.item_codes[:, 0]
    category_taste = softmax(simulator.attribute_weights[0], axis=1)  # (n_users, n_categories)
    intent = _sample_categories(category_taste, rng)  # (n_users,) the page each user opens first

    blocks = []
    for session in range(max_sessions):
        active = np.flatnonzero((session < sessions_per_user) | (user_clicks < min_clicks))
        if len(active) == 0:
            break
        if session > 0:
            moves_on = rng.random(n_users) >= intent_persistence
            intent = np.where(moves_on, _sample_categories(category_taste, rng), intent)
        popularity = prior_strength * prior + item_clicks
        logits = (
            popularity_weight * np.log(popularity)[None, :]
            + personalisation * affinity[active]
            + intent_focus * (categories[None, :] == intent[active, None])
        )
        logits[already_clicked[active]] = -np.inf
        perturbed = logits + rng.gumbel(size=logits.shape)  # (n_active, n_items)
        top = np.argpartition(-perturbed, slate_size - 1, axis=1)[:, :slate_size]
        order = np.argsort(-np.take_along_axis(perturbed, top, axis=1), axis=1, kind="stable")
        slates = np.take_along_axis(top, order, axis=1)  # (n_active, slate_size), best first
        clicked = simulator.click(active, slates, rng)

        clicked_users, clicked_positions = np.nonzero(clicked)
        clicked_items = slates[clicked_users, clicked_positions]
        already_clicked[active[clicked_users], clicked_items] = True
        item_clicks += np.bincount(clicked_items, minlength=n_items)
        user_clicks[active] += clicked.sum(axis=1)

        positions = np.broadcast_to(np.arange(slate_size), slates.shape)
        times = start_timestamp + session_start[active, session].astype(np.int64)[:, None] + positions
        blocks.append(
            (np.repeat(active, slate_size), slates.ravel(), positions.ravel(), times.ravel(), clicked.ravel())
        )

    users, items, positions, timestamps, clicks = (
        np.concatenate(column) for column in zip(*blocks, strict=True)
    )
    impressions = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": items.astype(np.int32),
            "position": positions.astype(np.int8),
            "timestamp": timestamps.astype(np.int64),
            "clicked": clicks.astype(bool),
        }
    )
    return impressions.sort_values(["user", "timestamp", "position"], kind="stable").reset_index(drop=True)
