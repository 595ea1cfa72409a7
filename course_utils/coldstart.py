"""Cold start for new items: hold the newest items out of training, then ask who can recommend them.

A collaborative model learns an item only from the clicks it received; an item that arrived
after training has none, so collaborative filtering cannot score it at all. A content model
scores it from its text or image like any other item. Notebook 14 measures that difference::

    new_items = newest_items(arrival, fraction=0.1)        # e.g. the latest 10 % of the catalog
    history = hide_items(train_and_valid, new_items)       # what a model may learn from
    targets = keep_items(train_and_valid + test, new_items)  # every later click on a new item
    result = new_item_metrics(lists, targets, new_items)   # recall, share of slots, coverage

Protocol: the new items never appear in any model's input (their columns are emptied), and
every interaction with a new item -- whatever split it was in -- is a target, because for
the experiment it happened after the item arrived. Users without a new-item target have an
undefined new-item recall (``NaN``), the course's convention for accuracy metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from course_utils import metrics


def newest_items(arrival: np.ndarray, fraction: float) -> np.ndarray:
    """Sorted ids of the ``ceil(fraction * n_items)`` items with the latest ``arrival``.

    ``arrival`` ``(n_items,)``: when each item first appeared (a timestamp, a release year, or
    any number where larger means later). Ties are broken towards the larger item id, so the
    choice is deterministic.
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    if arrival.ndim != 1 or arrival.size < 2:
        raise ValueError(
            f"arrival must be a 1-D array with one value per item (>= 2 items), got {arrival.shape}"
        )
    if np.isnan(arrival).any():
        raise ValueError("arrival contains NaN: give every item an arrival time (e.g. +inf for never seen)")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), e.g. 0.1 for the newest 10 %, got {fraction}")
    n_new = int(np.ceil(fraction * arrival.size))
    order = np.lexsort((np.arange(arrival.size), arrival))  # oldest first; ties by id
    return np.sort(order[-n_new:])


def _item_mask(items: np.ndarray, n_items: int, argument: str = "items") -> np.ndarray:
    items = np.asarray(items)
    if items.ndim != 1 or not np.issubdtype(items.dtype, np.integer):
        raise ValueError(f"{argument} must be a 1-D array of integer item ids, got dtype {items.dtype}")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"{argument} must be item ids in [0, {n_items}), got values up to {items.max()}")
    mask = np.zeros(n_items, dtype=bool)
    mask[items] = True
    return mask


def hide_items(matrix: sp.spmatrix | sp.sparray, items: np.ndarray) -> sp.csr_array:
    """``matrix`` ``(n_users, n_items)`` with the columns of ``items`` emptied: a model never sees them."""
    matrix = sp.csr_array(matrix, copy=True)
    matrix.data[_item_mask(items, matrix.shape[1])[matrix.indices]] = 0
    matrix.eliminate_zeros()
    return matrix


def keep_items(matrix: sp.spmatrix | sp.sparray, items: np.ndarray) -> sp.csr_array:
    """``matrix`` ``(n_users, n_items)`` restricted to the columns of ``items`` (the others emptied)."""
    matrix = sp.csr_array(matrix, copy=True)
    matrix.data[~_item_mask(items, matrix.shape[1])[matrix.indices]] = 0
    matrix.eliminate_zeros()
    return matrix


@dataclass(frozen=True)
class NewItemMetrics:
    """New-item metrics of one system.

    ``recall`` ``(n_users,)``: Recall@``recall_k`` on the user's new-item targets, ``NaN`` for a
    user without one; ``share`` ``(n_users,)``: share of the top-``k`` slots that hold a new item;
    ``coverage``: share of the new items recommended (top-``k``) to at least one user.
    """

    recall: np.ndarray
    share: np.ndarray
    coverage: float


def new_item_metrics(
    lists: np.ndarray,
    targets: sp.spmatrix | sp.sparray,
    new_items: np.ndarray,
    k: int = 10,
    recall_k: int = 20,
) -> NewItemMetrics:
    """Recall on new items, share of top-``k`` slots given to new items, and new-item coverage.

    ``lists`` ``(n_users, >= max(k, recall_k))`` item ids, best first; ``targets`` ``(n_users,
    n_items)`` the users' interactions (only those with ``new_items`` count).

    * ``recall_u = |L_u[:recall_k] ∩ T_u ∩ N| / |T_u ∩ N|`` (``NaN`` when ``T_u ∩ N`` is empty);
    * ``share_u = |L_u[:k] ∩ N| / k``;
    * ``coverage = |∪_u L_u[:k] ∩ N| / |N|``.
    """
    lists = metrics.check_recommendations(lists)
    targets = sp.csr_array(targets)
    if lists.shape[0] != targets.shape[0]:
        raise ValueError(
            f"lists has {lists.shape[0]} users but targets has {targets.shape[0]}: one row per user"
        )
    if lists.shape[1] < max(k, recall_k):
        raise ValueError(
            f"lists hold {lists.shape[1]} items; need at least max(k, recall_k) = {max(k, recall_k)}"
        )
    is_new = _item_mask(new_items, targets.shape[1], "new_items")
    if not is_new.any():
        raise ValueError("new_items is empty: there is no new item to measure")
    recall = metrics.recall_at_k(lists, keep_items(targets, new_items), recall_k)
    top = lists[:, :k]
    share = is_new[top].mean(axis=1)
    coverage = np.intersect1d(top.ravel(), np.flatnonzero(is_new)).size / is_new.sum()
    return NewItemMetrics(recall, share, float(coverage))
