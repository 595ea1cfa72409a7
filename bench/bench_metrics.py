"""Benchmark: metric throughput over all users (users per second).

Run with ``make bench`` or ``python bench/bench_metrics.py``. Workload: a shop-sized catalog
(4,000 items), 10,000 users with top-10 lists, 1-20 held-out items each, 384-d item embeddings.
Target: every metric evaluates at least 5,000 users per CPU second (``time.process_time``, so
that other jobs on the machine do not count), i.e. a full evaluation table in seconds. Exits
with status 1 when a metric misses it.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from course_utils import metrics

TARGET_USERS_PER_CPU_SECOND = 5_000


def main(n_users: int = 10_000, n_items: int = 4000, k: int = 10, dim: int = 384, seed: int = 0) -> int:
    """Print the throughput table; return 1 when a metric misses the target, else 0."""
    rng = np.random.default_rng(seed)
    recommendations = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]  # (n_users, k) distinct ids
    n_relevant = rng.integers(1, 21, n_users)
    truth = sp.csr_array(
        (
            np.ones(n_relevant.sum()),
            (np.repeat(np.arange(n_users), n_relevant), rng.integers(0, n_items, n_relevant.sum())),
        ),
        shape=(n_users, n_items),
    )
    train = sp.csr_array((rng.random((n_users, n_items)) < 0.01).astype(np.float32))
    categories = np.eye(20)[rng.integers(0, 20, n_items)]
    cosine = metrics.CosineDistance(rng.normal(size=(n_items, dim)))
    jaccard = metrics.JaccardDistance((rng.random((n_items, 30)) < 0.1).astype(int))
    runs = {
        "Precision@10": lambda: metrics.precision_at_k(recommendations, truth),
        "Recall@10": lambda: metrics.recall_at_k(recommendations, truth),
        "NDCG@10": lambda: metrics.ndcg_at_k(recommendations, truth),
        "MAP@10": lambda: metrics.average_precision_at_k(recommendations, truth),
        "ILD@10 (cosine, 384-d)": lambda: metrics.intra_list_diversity(recommendations, cosine),
        "ILD@10 (Jaccard)": lambda: metrics.intra_list_diversity(recommendations, jaccard),
        "coverage + Gini + entropy": lambda: [
            function(metrics.item_exposure(recommendations, n_items))
            for function in (metrics.gini_index, metrics.shannon_entropy)
        ],
        "novelty": lambda: metrics.novelty(recommendations, train),
        "calibration KL": lambda: metrics.calibration_kl(recommendations, train, categories),
        "alpha-nDCG@10": lambda: metrics.alpha_ndcg_at_k(recommendations, truth, categories),
    }
    rows = []
    for name, run in runs.items():
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        rows.append(
            {"metric": name, "seconds": seconds, "CPU (s)": cpu, "users/CPU s": n_users / max(cpu, 1e-9)}
        )
    pd.set_option("display.float_format", lambda value: f"{value:,.3f}")
    print(f"Metric throughput: {n_users:,} users, top-{k} lists, {n_items:,} items")
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    slowest = table.loc[table["users/CPU s"].idxmin()]
    ok = slowest["users/CPU s"] >= TARGET_USERS_PER_CPU_SECOND
    print(
        f"slowest: {slowest['metric']} at {slowest['users/CPU s']:,.0f} users per CPU second "
        f"(target >= {TARGET_USERS_PER_CPU_SECOND:,}): {'OK' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
