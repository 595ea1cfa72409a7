"""One small training loop for every model in the course.

``fit`` knows nothing about the model: you give it a ``step(batch) -> dict`` that performs one
optimisation step and returns numbers to log (a loss, two losses for a GAN, ...). ``fit``
runs the epochs with a tqdm progress bar, averages what ``step`` returns, calls
``evaluate()`` after each epoch, and stops early when the monitored metric stops improving,
restoring the best weights. That is the whole trick; see ``supervised_step`` for the usual
"loss -> backward -> optimizer step".
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

Step = Callable[[Any], dict[str, float]]


@dataclass
class History:
    """Per-epoch records of a ``fit`` run (epoch, averaged step values, evaluation values)."""

    records: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def frame(self) -> pd.DataFrame:
        """The records as a DataFrame indexed by epoch."""
        return pd.DataFrame(self.records).set_index("epoch")

    def last(self, key: str) -> float:
        """The most recent value of ``key``."""
        return self.records[-1][key]


def supervised_step(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor | tuple[torch.Tensor, dict[str, float]]],
    optimizer: torch.optim.Optimizer,
    max_grad_norm: float | None = None,
) -> Step:
    """Build a ``step`` for ``fit``: ``loss = loss_fn(model, batch)``, backward, optimiser step.

    ``loss_fn`` returns the scalar loss, or ``(loss, extras)`` where ``extras`` are more numbers
    to log next to it (e.g. the two terms of an ELBO). A non-finite loss raises
    ``FloatingPointError`` before it can reach the weights.
    """

    def step(batch: Any) -> dict[str, float]:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss, extras = _loss_and_extras(loss_fn(model, batch))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()}: lower the learning rate?")
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        return {"loss": loss.item(), **extras}

    return step


def _loss_and_extras(
    output: torch.Tensor | tuple[torch.Tensor, dict[str, float]],
) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(output, tuple):
        return output
    return output, {}


def tensor_batches(
    *tensors: torch.Tensor | None,
    batch_size: int,
    generator: torch.Generator,
    device: str | torch.device | None = None,
    drop_last: bool = False,
) -> Callable[[], Iterator[Any]]:
    """Shuffled mini-batches of rows, as the zero-argument factory ``fit`` calls once per epoch.

    Every epoch draws a fresh ``torch.randperm`` from ``generator`` and yields the same rows of
    each tensor (moved to ``device``): a single tensor per batch for one tensor, else a tuple
    (a ``None`` tensor stays ``None``, e.g. absent labels). ``drop_last`` skips the final
    incomplete batch (BatchNorm needs more than one row).
    """
    present = [tensor for tensor in tensors if tensor is not None]
    if not present:
        raise ValueError("tensor_batches needs at least one tensor")
    n_rows = len(present[0])
    if any(len(tensor) != n_rows for tensor in present):
        raise ValueError(f"all tensors must have the same number of rows, got {[len(t) for t in present]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def rows(tensor: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
        return None if tensor is None else tensor[index].to(device)

    def batches() -> Iterator[Any]:
        order = torch.randperm(n_rows, generator=generator)
        stop = n_rows - batch_size + 1 if drop_last else n_rows
        for start in range(0, stop, batch_size):
            index = order[start : start + batch_size]
            batch = tuple(rows(tensor, index) for tensor in tensors)
            yield batch[0] if len(batch) == 1 else batch

    return batches


def fit(
    step: Step,
    batches: Iterable[Any] | Callable[[], Iterable[Any]],
    epochs: int,
    evaluate: Callable[[], dict[str, float]] | None = None,
    monitor: str | None = None,
    mode: str = "min",
    patience: int | None = None,
    model: nn.Module | None = None,
    desc: str = "train",
    progress: bool = True,
) -> History:
    """Run ``epochs`` passes of ``step`` over ``batches``; return the ``History``.

    Args:
        step: performs one optimisation step on a batch and returns values to log.
        batches: a re-iterable (list, DataLoader) or a zero-argument callable returning a fresh
            iterable each epoch (handy for reshuffling or sampling negatives; see
            ``tensor_batches``). A one-shot iterator (a generator) only lasts one epoch.
        epochs: maximum number of epochs.
        evaluate: called after each epoch; its values are logged next to the training values.
        monitor: key (from ``evaluate`` or ``step``) to watch for early stopping / best weights;
            a non-finite (NaN or infinite) monitored value raises ``FloatingPointError``.
        mode: ``"min"`` if smaller ``monitor`` is better, ``"max"`` otherwise.
        patience: stop after this many epochs without improvement (``None``: never stop early).
        model: if given together with ``monitor``, its best weights are restored at the end.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if mode not in {"min", "max"}:
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if patience is not None and monitor is None:
        raise ValueError("early stopping needs a metric: pass monitor=... with patience")

    history = History()
    sign = 1.0 if mode == "min" else -1.0
    best_value, best_state, waited = math.inf, None, 0
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=True)
    for epoch in bar:
        sums: dict[str, float] = {}
        n_batches = 0
        for batch in batches() if callable(batches) else batches:
            for key, value in step(batch).items():
                sums[key] = sums.get(key, 0.0) + float(value)
            n_batches += 1
        if n_batches == 0:
            if epoch > 1 and not callable(batches) and iter(batches) is batches:
                raise ValueError(
                    f"batches is a one-shot iterator that was exhausted after epoch 1 of {epochs}: "
                    "pass a list, a DataLoader or a zero-argument callable that returns fresh batches"
                )
            raise ValueError("batches yielded nothing: is the training set empty?")
        record = {"epoch": epoch, **{key: total / n_batches for key, total in sums.items()}}
        not_finite = sorted(key for key in sums if not math.isfinite(record[key]))
        if evaluate is not None:
            if model is not None:
                model.eval()
            with torch.no_grad():
                record.update({key: float(value) for key, value in evaluate().items()})
        history.records.append(record)
        bar.set_postfix({key: f"{value:.4g}" for key, value in record.items() if key != "epoch"})

        if monitor is None:
            if not_finite:
                warnings.warn(f"epoch {epoch}: step returned non-finite {not_finite}", RuntimeWarning, 2)
            continue
        if monitor not in record:
            raise KeyError(f"monitor={monitor!r} is not among the logged values {sorted(record)}")
        if not math.isfinite(record[monitor]) or not_finite:
            values = {key: record[key] for key in sorted({monitor, *not_finite})}
            raise FloatingPointError(
                f"epoch {epoch}: non-finite values {values} while monitoring {monitor!r}; early "
                "stopping cannot rank them: lower the learning rate or check the data"
            )
        if sign * record[monitor] < best_value:
            best_value, history.best_epoch, waited = sign * record[monitor], epoch, 0
            if model is not None:
                best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                history.stopped_early = True
                break
    bar.close()
    if model is not None and best_state is not None:
        model.load_state_dict(best_state)
    return history
