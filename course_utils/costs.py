"""What a computation costs: wall time, CPU time and memory, one row per measured block.

The course's one timing utility, used by the capstone pipeline (notebook 13: encoders, model
fits, cascade stages) and by the benchmarks (``bench/bench_simulation.py`` times the stages of
the feedback loop with it)::

    costs = CostLog()
    with costs.measure("BPR-MF fit"):
        model.fit(train)
    costs.frame()      # one row per block: seconds, cpu_seconds, peak_traced_MiB, rss_growth_MiB
    costs.totals()     # seconds and cpu_seconds summed per component (blocks measured repeatedly)

and :func:`cold_versus_cached`: what the embedding cache saves.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from course_utils.encoders.cache import Encoder


def max_rss_mib() -> float:
    """The process's resident-set high-water mark in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _cuda_available() -> bool:
    """True when PyTorch is already imported and sees a CUDA device (never imports torch itself)."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_available()


@dataclass
class CostLog:
    """Wall time, CPU time and memory of named blocks, one row per ``measure`` block.

    Columns: ``seconds`` (wall clock, ``time.perf_counter``); ``cpu_seconds``
    (``time.process_time``: all threads of this process, so it stays meaningful when other jobs
    share the machine); with ``memory=True`` also ``peak_traced_MiB``, the peak of memory
    allocated by Python and NumPy inside the block (``tracemalloc``; PyTorch's CPU tensors are
    *not* traced, and tracing slows allocation-heavy Python code), ``rss_growth_MiB``, how far
    the block pushed the whole process's peak resident memory (``resource.getrusage``; 0 when it
    stayed below an earlier peak, so a lower bound) and ``cuda_peak_MiB`` on a CUDA device
    (``torch.cuda.max_memory_allocated``).
    """

    rows: list[dict] = field(default_factory=list)

    @contextmanager
    def measure(self, component: str, memory: bool = True) -> Iterator[dict]:
        """Time (and with ``memory=True`` memory-profile) the ``with`` block as one row named ``component``.

        The block may fill the yielded dict with extra columns (e.g. ``cached=True``).
        """
        details: dict = {}
        started_tracing = memory and not tracemalloc.is_tracing()
        if started_tracing:
            tracemalloc.start()
        if memory:
            tracemalloc.reset_peak()
            traced_before = tracemalloc.get_traced_memory()[0]
            rss_before = max_rss_mib()
            cuda = _cuda_available()
            if cuda:
                sys.modules["torch"].cuda.reset_peak_memory_stats()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield details
        finally:
            row = {
                "component": component,
                "seconds": time.perf_counter() - wall,
                "cpu_seconds": time.process_time() - cpu,
            }
            if memory:
                peak = tracemalloc.get_traced_memory()[1] - traced_before
                if started_tracing:
                    tracemalloc.stop()
                row |= {"peak_traced_MiB": max(peak, 0) / 2**20, "rss_growth_MiB": max_rss_mib() - rss_before}
                if cuda:
                    row["cuda_peak_MiB"] = sys.modules["torch"].cuda.max_memory_allocated() / 2**20
            self.rows.append(row | details)

    def add(self, component: str, seconds: float, **details) -> None:
        """Record a time measured elsewhere (e.g. a cascade stage), without CPU or memory figures."""
        self.rows.append({"component": component, "seconds": seconds, **details})

    def frame(self) -> pd.DataFrame:
        """The rows as a table indexed by component (a component measured twice has two rows)."""
        if not self.rows:
            raise ValueError("nothing measured yet: wrap a block in `with costs.measure(name):`")
        return pd.DataFrame(self.rows).set_index("component")

    def totals(self) -> pd.DataFrame:
        """``seconds`` and ``cpu_seconds`` summed per component, in order of first appearance."""
        frame = self.frame()
        columns = [column for column in ("seconds", "cpu_seconds") if column in frame.columns]
        return frame[columns].groupby(level=0, sort=False).sum()


def cold_versus_cached(encoder: Encoder, inputs: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Seconds to embed ``inputs`` with an empty cache (the model runs) and again from the cache.

    Uses a temporary cache folder, removed afterwards, so the real cache is neither used nor
    changed. One row per run: ``run`` (``cold`` / ``cached``), ``seconds``, ``ms_per_item``.
    """
    from course_utils.encoders.cache import cached_encode

    rows = []
    with tempfile.TemporaryDirectory(prefix="course-cache-") as folder:
        for run in ("cold", "cached"):
            start = time.perf_counter()
            cached_encode(encoder, inputs, folder, progress=False)
            seconds = time.perf_counter() - start
            rows.append({"run": run, "seconds": seconds, "ms_per_item": 1000 * seconds / len(inputs)})
    return pd.DataFrame(rows).set_index("run")
