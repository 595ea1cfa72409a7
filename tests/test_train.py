import pytest
import torch
from torch import nn

from course_utils.config import seed_everything
from course_utils.train import fit, supervised_step


def tiny_regression():
    """y = 2x + 1 with a little noise; 8 batches of 16."""
    seed_everything(0)
    x = torch.randn(128, 1)
    y = 2 * x + 1 + 0.01 * torch.randn(128, 1)
    return list(zip(x.split(16), y.split(16), strict=True))


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def run(epochs=30, **kwargs):
    batches = tiny_regression()
    model = nn.Linear(1, 1)
    step = supervised_step(model, mse, torch.optim.SGD(model.parameters(), lr=0.1))
    val = lambda: {"val_loss": sum(mse(model, b).item() for b in batches) / len(batches)}  # noqa: E731
    return model, fit(step, batches, epochs=epochs, evaluate=val, model=model, progress=False, **kwargs)


def test_fit_learns_and_records_history():
    model, history = run()
    assert len(history.records) == 30
    assert history.records[-1]["loss"] < history.records[0]["loss"] / 10
    assert abs(model.weight.item() - 2) < 0.05 and abs(model.bias.item() - 1) < 0.05
    assert list(history.frame().columns) == ["loss", "val_loss"]


def test_fit_is_deterministic():
    _, first = run(epochs=3)
    _, second = run(epochs=3)
    assert first.records == second.records


def test_early_stopping_restores_best_weights():
    seed_everything(0)
    model = nn.Linear(1, 1)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.4, 0.3])
    weights = []

    def step(batch):
        with torch.no_grad():
            model.weight.add_(1.0)
        weights.append(model.weight.item())
        return {"loss": 0.0}

    history = fit(
        step,
        [None],
        epochs=6,
        evaluate=lambda: {"score": next(scores)},
        monitor="score",
        mode="max",
        patience=2,
        model=model,
        progress=False,
    )
    assert history.stopped_early and history.best_epoch == 2 and len(history.records) == 4
    assert model.weight.item() == pytest.approx(weights[1])


def test_fit_accepts_a_batch_factory_and_rejects_bad_input():
    calls = []
    fit(lambda b: {"loss": b}, lambda: calls.append(1) or [1.0], epochs=3, progress=False)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="epochs"):
        fit(lambda b: {}, [1], epochs=0)
    with pytest.raises(ValueError, match="empty"):
        fit(lambda b: {"loss": 0.0}, [], epochs=1, progress=False)
    with pytest.raises(ValueError, match="monitor"):
        fit(lambda b: {"loss": 0.0}, [1], epochs=1, patience=2)
    with pytest.raises(KeyError, match="nope"):
        fit(lambda b: {"loss": 0.0}, [1], epochs=1, monitor="nope", progress=False)


def test_supervised_step_stops_on_nan():
    model = nn.Linear(1, 1)
    step = supervised_step(
        model,
        lambda m, b: torch.tensor(float("nan"), requires_grad=True),
        torch.optim.SGD(model.parameters(), lr=0.1),
    )
    with pytest.raises(FloatingPointError, match="learning rate"):
        step(None)
