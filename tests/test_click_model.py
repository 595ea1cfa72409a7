"""Tests for course_utils.models.click_model: profiles, the click model and its position bias, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.metrics import roc_auc_score

from course_utils.data.interactions import Interactions
from course_utils.models.click_model import (
    ClickFeatures,
    ClickModel,
    Impressions,
    predict_clicks,
    score_all_items,
    split_impressions,
    train_click_model,
)
from course_utils.models.fusion import GatedFusion

CPU = torch.device("cpu")


def tiny_click_features(seed: int = 0) -> tuple[ClickFeatures, dict[str, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    items = {
        "text": rng.normal(size=(12, 6)).astype(np.float32),
        "image": rng.normal(size=(12, 10)).astype(np.float32),
    }
    history = sparse.csr_array((rng.random((4, 12)) < 0.4).astype(np.float32))
    return ClickFeatures.from_history(items, history), {k: torch.as_tensor(v) for k, v in items.items()}


def test_click_features_profile_is_the_mean_clicked_item_with_leave_one_out():
    items = {"text": np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], dtype=np.float32)}
    history = sparse.csr_array(
        np.array([[1, 0, 1], [0, 0, 0]], dtype=np.float32)
    )  # user 0 clicked items 0, 2
    features = ClickFeatures.from_history(items, history)
    users, targets = torch.tensor([0, 0, 1]), torch.tensor([1, 2, 1])
    item_batch, user_batch = features.lookup(users, targets, leave_out=torch.tensor([0, 1, 0]))
    torch.testing.assert_close(item_batch["text"], torch.tensor([[0.0, 1.0], [2.0, 2.0], [0.0, 1.0]]))
    # user 0: mean of items 0, 2 = [1.5, 1]; leaving item 2 out gives item 0 = [1, 0]; user 1: no history
    torch.testing.assert_close(user_batch["text"], torch.tensor([[1.5, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="3 items"):
        ClickFeatures.from_history({"text": np.zeros((4, 2))}, history)


@pytest.mark.parametrize("fusion", ["concat", "attention", "gated"])
@pytest.mark.parametrize("modalities", [("text",), ("image",), ("text", "image")])
def test_click_model_variants_give_one_logit_per_pair_and_train_every_tower(fusion, modalities):
    features, items = tiny_click_features()
    torch.manual_seed(0)
    model = ClickModel({m: items[m].shape[1] for m in modalities}, hidden_dim=8, fusion=fusion)
    item_batch, user_batch = features.lookup(
        torch.tensor([0, 1, 2, 3, 0]), torch.tensor([0, 3, 5, 7, 11]), modalities=modalities
    )
    logits = model(item_batch, user_batch)
    assert logits.shape == (5,)
    logits.sum().backward()
    for name in modalities:
        assert model.towers[name][1].weight.grad.abs().sum() > 0, f"no gradient reached the {name} tower"


def test_click_model_rejects_missing_modalities_and_explains_only_weighted_fusions():
    features, _ = tiny_click_features()
    item_batch, user_batch = features.lookup(torch.tensor([0, 1]), torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="exactly the modalities"):
        ClickModel({"text": 6}, hidden_dim=8)(item_batch, user_batch)
    with pytest.raises(TypeError, match="no modality weights"):
        ClickModel({"text": 6, "image": 10}, hidden_dim=8).modality_weights(item_batch, user_batch)
    gated = ClickModel({"text": 6, "image": 10}, hidden_dim=8, fusion="gated")
    assert gated.modality_weights(item_batch, user_batch).shape == (2, 2)
    with pytest.raises(ValueError, match="at least one modality"):
        ClickModel({})


def test_click_model_accepts_a_fusion_class_and_builds_it_for_its_tokens():
    features, _ = tiny_click_features()
    item_batch, user_batch = features.lookup(torch.tensor([0, 1, 2]), torch.tensor([2, 3, 4]))
    torch.manual_seed(0)
    by_name = ClickModel({"text": 6, "image": 10}, hidden_dim=8, fusion="gated").eval()
    torch.manual_seed(0)
    by_class = ClickModel({"text": 6, "image": 10}, hidden_dim=8, fusion=GatedFusion).eval()
    assert by_class.fusion.input_dims == [
        16,
        16,
    ]  # one (item * user; item) token of 2 * hidden_dim per modality
    assert torch.equal(by_name(item_batch, user_batch), by_class(item_batch, user_batch))
    with pytest.raises(TypeError, match="output_dim"):
        ClickModel({"text": 6}, hidden_dim=8, fusion=lambda dims, dim: torch.nn.Identity())
    with pytest.raises(TypeError, match="a name"):
        ClickModel({"text": 6}, hidden_dim=8, fusion=3)


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_score_all_items_matches_pairwise_predictions(fusion):
    features, _ = tiny_click_features()
    torch.manual_seed(0)
    model = ClickModel({"text": 6, "image": 10}, hidden_dim=8, fusion=fusion).eval()
    users = np.array([2, 0, 3])
    all_logits = score_all_items(model, features, users, users_per_batch=2)
    assert all_logits.shape == (3, 12)
    pair_users, pair_items = torch.as_tensor(users).repeat_interleave(12), torch.arange(12).repeat(3)
    with torch.no_grad():
        pairwise = model(*features.lookup(pair_users, pair_items))
    np.testing.assert_allclose(all_logits.ravel(), pairwise.numpy(), rtol=1e-5, atol=1e-6)


def synthetic_impressions(features: ClickFeatures, n: int, seed: int) -> Impressions:
    """Clicks that depend on the text match and on the image match (tiny, for tests)."""
    generator = torch.Generator().manual_seed(seed)
    users, items = (
        torch.randint(0, 4, (n,), generator=generator),
        torch.randint(0, 12, (n,), generator=generator),
    )
    item_batch, user_batch = features.lookup(users, items)
    affinity = sum((item_batch[m] * user_batch[m]).sum(1) for m in ("text", "image"))
    clicked = (torch.rand(n, generator=generator) < torch.sigmoid(affinity)).float()
    return Impressions(users, items, clicked)


def test_train_click_model_is_deterministic_and_learns():
    features, _ = tiny_click_features()
    train, valid = synthetic_impressions(features, 600, seed=1), synthetic_impressions(features, 300, seed=2)

    def run() -> tuple[np.ndarray, object]:
        torch.manual_seed(0)
        model = ClickModel({"text": 6, "image": 10}, hidden_dim=8)
        history = train_click_model(
            model, features, train, valid, epochs=8, batch_size=64, lr=1e-2, device=CPU, progress=False
        )
        return predict_clicks(model, features, valid), history

    first, history = run()
    second, _ = run()
    np.testing.assert_array_equal(first, second)
    assert first.shape == (300,) and np.all((first > 0) & (first < 1))
    assert roc_auc_score(valid.clicked.numpy(), first) > 0.7
    assert history.frame()["loss"].iloc[-1] < history.frame()["loss"].iloc[0]


def test_position_bias_is_added_only_with_positions_and_learned_from_position_driven_clicks():
    features, _ = tiny_click_features()
    generator = torch.Generator().manual_seed(3)
    n = 2000
    users, items = (
        torch.randint(0, 4, (n,), generator=generator),
        torch.randint(0, 12, (n,), generator=generator),
    )
    positions = torch.randint(0, 5, (n,), generator=generator)
    examination = torch.tensor([0.6, 0.4, 0.25, 0.15, 0.08])  # clicks depend on the position only
    clicked = (torch.rand(n, generator=generator) < examination[positions]).float()
    data = Impressions(users, items, clicked, positions=positions)

    torch.manual_seed(0)
    model = ClickModel({"text": 6}, hidden_dim=8, n_positions=5).eval()  # eval: no dropout noise
    item_batch, user_batch = features.lookup(users[:3], items[:3], modalities=["text"])
    with torch.no_grad():
        model.position_bias.weight.copy_(torch.arange(5.0)[:, None])
        content = model(item_batch, user_batch)  # no positions: the content score alone
        torch.testing.assert_close(
            model(item_batch, user_batch, positions[:3]), content + positions[:3].float()
        )
        model.position_bias.weight.zero_()
    train_click_model(model, features, data, epochs=10, batch_size=128, lr=3e-2, device=CPU, progress=False)
    bias = model.position_bias.weight.detach().squeeze(1)
    assert torch.all(bias[:-1] > bias[1:]), f"the learned bias should fall with the position, got {bias}"

    with pytest.raises(ValueError, match="no position bias"):
        ClickModel({"text": 6}, hidden_dim=8)(item_batch, user_batch, positions[:3])
    with pytest.raises(ValueError, match="positions must lie"):
        model(item_batch, user_batch, torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match="carry no positions"):
        predict_clicks(model, features, Impressions(users, items, clicked))
    with pytest.raises(ValueError, match="positive slate length"):
        ClickModel({"text": 6}, n_positions=0)


def test_impressions_subset_keeps_rows_aligned():
    data = Impressions(
        torch.tensor([0, 1, 2]),
        torch.tensor([5, 6, 7]),
        torch.tensor([1.0, 0.0, 1.0]),
        torch.tensor([0.0, 1.0, 0.0]),
    )
    part = data.subset(np.array([2, 0]))
    assert part.users.tolist() == [2, 0] and part.items.tolist() == [7, 5]
    assert part.clicked.tolist() == [1.0, 1.0] and part.in_history.tolist() == [0.0, 0.0]
    assert part.positions is None
    placed = Impressions(data.users, data.items, data.clicked, positions=torch.tensor([4, 0, 9]))
    assert placed.subset(np.array([2, 0])).positions.tolist() == [9, 4]
    assert [batch.positions.tolist() for batch in placed.batches(2)] == [[4, 0], [9]]


def test_impressions_reject_ragged_columns():
    with pytest.raises(ValueError, match="equally long"):
        Impressions(torch.tensor([0, 1]), torch.tensor([0]), torch.tensor([1.0, 0.0]))


def test_split_impressions_follows_each_users_click_split_in_time():
    clicks = pd.DataFrame(
        {"user": [0, 0, 0, 0, 0, 1], "item": [0, 1, 2, 3, 4, 0], "timestamp": [1, 2, 3, 4, 5, 2]}
    )
    interactions = Interactions.from_events(
        clicks, n_users=2, n_items=6, valid_fraction=0.2, test_fraction=0.2
    )
    # user 0: train = items 0, 1, 2 (t <= 3), valid = item 3 (t = 4), test = item 4 (t = 5), last click at 5
    # user 1: too few clicks to split, all in train; last click at t = 2
    impressions = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 0, 0, 1, 1],
            "item": [0, 5, 3, 2, 4, 1, 0, 2],
            "timestamp": [1, 3, 4, 5, 5, 6, 2, 9],
            "clicked": [1, 0, 1, 0, 1, 0, 1, 0],
            "position": [0, 1, 2, 3, 4, 5, 6, 7],
        }
    )
    splits = split_impressions(impressions, interactions)
    assert splits["train"].positions.tolist() == [0, 1, 6] and splits["test"].positions.tolist() == [3, 4]
    assert split_impressions(impressions.drop(columns="position"), interactions)["train"].positions is None
    assert splits["train"].items.tolist() == [0, 5, 0] and splits["train"].users.tolist() == [0, 0, 1]
    assert splits["train"].in_history.tolist() == [1.0, 0.0, 1.0]  # a training click leaves its own profile
    assert splits["valid"].items.tolist() == [3]
    assert splits["test"].items.tolist() == [2, 4] and splits["test"].clicked.tolist() == [0.0, 1.0]
    assert splits["test"].in_history.sum() == 0  # a past click may stay in the profile when predicting
    # the impressions after each user's last click (user 0 at t = 6, user 1 at t = 9) are dropped
    assert sum(len(part) for part in splits.values()) == 6
    with pytest.raises(ValueError, match="lacks the column"):
        split_impressions(impressions.drop(columns="clicked"), interactions)
