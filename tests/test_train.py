import pytest
import torch
from torch import nn

from course_utils.config import seed_everything
from course_utils.train import fit, supervised_step, tensor_batches


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


def test_supervised_step_logs_the_extras_of_its_loss():
    model = nn.Linear(1, 1)
    step = supervised_step(
        model,
        lambda m, b: (m(b).pow(2).mean(), {"half": 0.5}),
        torch.optim.SGD(model.parameters(), lr=0.1),
    )
    logged = step(torch.ones(4, 1))
    assert set(logged) == {"loss", "half"} and logged["half"] == 0.5


def test_fit_names_an_exhausted_one_shot_iterator():
    one_shot = (batch for batch in [1.0, 2.0])
    with pytest.raises(ValueError, match="exhausted after epoch 1 of 2"):
        fit(lambda b: {"loss": b}, one_shot, epochs=2, progress=False)


def test_fit_raises_on_a_non_finite_monitored_value_instead_of_stopping_quietly():
    values = iter([1.0, float("nan"), 0.5])
    with pytest.raises(FloatingPointError, match=r"epoch 2: non-finite values \{'loss': nan\}"):
        fit(lambda b: {"loss": next(values)}, [0], epochs=3, monitor="loss", patience=1, progress=False)
    with pytest.raises(FloatingPointError, match="'valid': inf"):
        fit(
            lambda b: {"loss": 0.0},
            [0],
            epochs=2,
            evaluate=lambda: {"valid": float("inf")},
            monitor="valid",
            progress=False,
        )


def test_fit_warns_about_a_non_finite_value_when_nothing_is_monitored():
    with pytest.warns(RuntimeWarning, match=r"epoch 1: step returned non-finite \['loss'\]"):
        fit(lambda b: {"loss": float("nan")}, [0], epochs=1, progress=False)


def test_tensor_batches_cover_every_row_once_per_epoch_and_reshuffle():
    rows = torch.arange(10)
    labels = 10 * torch.arange(10)
    batches = tensor_batches(rows, labels, batch_size=4, generator=torch.Generator().manual_seed(0))
    epochs = [list(batches()) for _ in range(2)]
    for epoch in epochs:
        assert [len(x) for x, _ in epoch] == [4, 4, 2]
        assert sorted(torch.cat([x for x, _ in epoch]).tolist()) == list(range(10))
        assert all(torch.equal(y, 10 * x) for x, y in epoch)  # rows stay paired
    assert not torch.equal(torch.cat([x for x, _ in epochs[0]]), torch.cat([x for x, _ in epochs[1]]))
    again = tensor_batches(rows, labels, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(next(again())[0], epochs[0][0][0])  # same seed, same first batch


def test_tensor_batches_single_tensor_none_and_drop_last():
    single = tensor_batches(torch.arange(10), batch_size=4, generator=torch.Generator(), drop_last=True)
    assert [batch.shape[0] for batch in single()] == [4, 4]  # a bare tensor, the incomplete batch dropped
    with_none = tensor_batches(torch.arange(3), None, batch_size=3, generator=torch.Generator())
    x, absent = next(with_none())
    assert absent is None and sorted(x.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="same number of rows"):
        tensor_batches(torch.arange(3), torch.arange(4), batch_size=2, generator=torch.Generator())
