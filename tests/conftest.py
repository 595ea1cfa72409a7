"""Shared test set-up: a headless matplotlib backend and tiny click fixtures used by several files."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
import numpy as np
import pytest
import scipy.sparse as sp

matplotlib.use("Agg")  # once for every test: no display needed


def taste_group_clicks(
    n_users: int, group_size: int, clicks_per_user: int, n_items: int | None = None, seed: int = 0
) -> sp.csr_array:
    """Two taste groups: the first half of the users click only items ``0 .. group_size - 1``, the
    second half only items ``group_size .. 2 * group_size - 1``; each user clicks
    ``clicks_per_user`` of their group's items, drawn with ``seed``. Items from ``2 * group_size``
    on (``n_items`` defaults to ``2 * group_size``) are never clicked. Binary ``(n_users, n_items)``."""
    n_items = 2 * group_size if n_items is None else n_items
    rng = np.random.default_rng(seed)
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for user in range(n_users):
        first_item = 0 if user < n_users // 2 else group_size
        dense[user, first_item + rng.choice(group_size, size=clicks_per_user, replace=False)] = 1
    return sp.csr_array(dense)


@pytest.fixture(scope="session")
def taste_clicks() -> Callable[..., sp.csr_array]:
    """The ``taste_group_clicks`` factory (tiny, planted two-group click matrices)."""
    return taste_group_clicks
