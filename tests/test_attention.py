"""Tests for course_utils.models.attention: attention from scratch, masks, SASRec."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from course_utils.data.interactions import Interactions
from course_utils.models.attention import (
    LearnedPositionalEncoding,
    MultiHeadAttention,
    NextItemTask,
    SASRec,
    SinusoidalPositionalEncoding,
    causal_mask,
    next_item_training_pairs,
    pad_sequences,
    padding_mask,
    scaled_dot_product_attention,
)

TINY_SASREC = {"max_len": 6, "d_model": 16, "n_heads": 2, "n_blocks": 1, "dropout": 0.0}  # small for speed


def random_qkv(seed: int = 0, shape: tuple[int, ...] = (2, 3, 5, 8)) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in range(3))


def test_attention_hand_computed() -> None:
    # One query equal to the first of two orthogonal keys, d_k = 4:
    # scores = [1*1 / 2, 0] = [0.5, 0] -> weights = softmax = [e^.5, 1] / (e^.5 + 1).
    q = torch.tensor([[[1.0, 0, 0, 0]]], dtype=torch.float64)
    k = torch.tensor([[[1.0, 0, 0, 0], [0, 1.0, 0, 0]]], dtype=torch.float64)
    v = torch.tensor([[[10.0], [20.0]]], dtype=torch.float64)
    output, weights = scaled_dot_product_attention(q, k, v)
    w0 = math.exp(0.5) / (math.exp(0.5) + 1)
    assert weights[0, 0].tolist() == pytest.approx([w0, 1 - w0])
    assert output.item() == pytest.approx(10 * w0 + 20 * (1 - w0))


def test_attention_matches_torch_without_mask() -> None:
    q, k, v = random_qkv()
    output, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v), atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))


def test_attention_matches_torch_with_causal_mask() -> None:
    q, k, v = random_qkv(seed=1)
    output, _ = scaled_dot_product_attention(q, k, v, causal_mask(5))
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)


def test_attention_matches_torch_with_boolean_padding_mask() -> None:
    q, k, v = random_qkv(seed=2)
    keep = torch.tensor([True, True, True, False, False])[None, None, None, :]  # (1, 1, 1, L_k)
    output, weights = scaled_dot_product_attention(q, k, v, keep)
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v, attn_mask=keep), atol=1e-6)
    assert torch.all(weights[..., 3:] == 0)


def test_attention_rejects_bad_input() -> None:
    q, k, v = random_qkv()
    with pytest.raises(ValueError, match="same last dimension"):
        scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, causal_mask(5).float())


def test_causal_mask_is_lower_triangular() -> None:
    mask = causal_mask(4)
    expected = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    with pytest.raises(ValueError, match="length"):
        causal_mask(0)


def test_causal_attention_ignores_the_future() -> None:
    q, k, v = random_qkv(seed=3, shape=(1, 1, 6, 4))
    changed_v = v.clone()
    changed_v[..., 4:, :] += 100.0  # change only the last two positions
    mask = causal_mask(6)
    before, weights = scaled_dot_product_attention(q, k, v, mask)
    after, _ = scaled_dot_product_attention(q, k, changed_v, mask)
    assert torch.allclose(before[..., :4, :], after[..., :4, :])
    assert torch.all(weights[0, 0].triu(diagonal=1) == 0)


def test_padding_mask_marks_padded_keys() -> None:
    sequences = torch.tensor([[-1, -1, 3, 4], [0, 2, 3, 4]])
    mask = padding_mask(sequences)
    assert mask.shape == (2, 1, 1, 4)
    assert mask[0, 0, 0].tolist() == [False, False, True, True]
    assert mask[1].all()


def test_multi_head_attention_shapes_and_causality() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_model=8, n_heads=2)
    x = torch.randn(3, 5, 8)
    output, weights = attention(x, causal_mask(5))
    assert output.shape == (3, 5, 8)
    assert weights.shape == (3, 2, 5, 5)
    x_future_changed = x.clone()
    x_future_changed[:, 3:] = torch.randn(3, 2, 8)
    output_changed, _ = attention(x_future_changed, causal_mask(5))
    assert torch.allclose(output[:, :3], output_changed[:, :3], atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(d_model=10, n_heads=3)


def test_sinusoidal_encoding_values() -> None:
    encoding = SinusoidalPositionalEncoding(max_len=10, d_model=4)
    table = encoding(torch.zeros(1, 10, 4))[0]
    # PE[pos, 0] = sin(pos), PE[pos, 1] = cos(pos), PE[pos, 2] = sin(pos / 100).
    assert table[3, 0].item() == pytest.approx(math.sin(3))
    assert table[3, 1].item() == pytest.approx(math.cos(3))
    assert table[7, 2].item() == pytest.approx(math.sin(7 / 100))
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionalEncoding(max_len=10, d_model=5)


def test_learned_encoding_adds_one_vector_per_position() -> None:
    encoding = LearnedPositionalEncoding(max_len=4, d_model=3)
    out = encoding(torch.zeros(2, 4, 3))
    assert torch.equal(out[0], encoding.table.weight)
    assert torch.equal(out[0], out[1])


def test_pad_sequences_keeps_recent_items_left_padded() -> None:
    padded = pad_sequences([[1, 2, 3, 4, 5], [7], []], max_len=3)
    assert padded.tolist() == [[3, 4, 5], [-1, -1, 7], [-1, -1, -1]]


def test_next_item_training_pairs_shift_by_one() -> None:
    inputs, targets = next_item_training_pairs([[1, 2, 3], [4], [5, 6]], max_len=3)
    assert inputs.tolist() == [[-1, 1, 2], [-1, -1, 5]]
    assert targets.tolist() == [[-1, 2, 3], [-1, -1, 6]]
    with pytest.raises(ValueError, match="at least two"):
        next_item_training_pairs([[1], []], max_len=3)


def test_sasrec_shapes_and_attention_maps() -> None:
    torch.manual_seed(0)
    model = SASRec(n_items=10, **TINY_SASREC).eval()
    sequences = torch.tensor(pad_sequences([[1, 2, 3], [4, 5, 6, 7, 8, 9]], max_len=6))
    scores = model.score_next(sequences)
    assert scores.shape == (2, 10)
    maps = model.attention_weights(sequences)
    assert len(maps) == 1 and maps[0].shape == (2, 2, 6, 6)
    assert torch.isfinite(maps[0]).all()
    # no attention to the future, none from a real item to padding
    assert torch.all(maps[0].triu(diagonal=1) == 0)
    assert torch.all(maps[0][0, :, 3:, :3] == 0)


def test_sasrec_rejects_bad_ids() -> None:
    model = SASRec(n_items=10, **TINY_SASREC)
    with pytest.raises(ValueError, match="item ids"):
        model.score_next(torch.tensor([[1, 2, 10]]))
    with pytest.raises(ValueError, match="max_len"):
        model.score_next(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        model.score_next(torch.zeros(7, dtype=torch.long))


def test_sasrec_tiny_training_reduces_loss_and_learns_a_pattern() -> None:
    torch.manual_seed(0)
    model = SASRec(n_items=6, **TINY_SASREC)
    # every sequence cycles 0 -> 1 -> 2 -> ... -> 5 -> 0, so the next item is always (last + 1) % 6
    sequences = [[(start + i) % 6 for i in range(7)] for start in range(6)]
    inputs, targets = (torch.tensor(a) for a in next_item_training_pairs(sequences, max_len=6))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.next_item_loss(inputs, targets).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.next_item_loss(inputs, targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first
    model.eval()
    predicted = model.score_next(torch.tensor(pad_sequences([[2, 3, 4]], max_len=6))).argmax(1)
    assert predicted.item() == 5


def test_sasrec_is_deterministic_with_a_seed() -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = SASRec(n_items=10, **TINY_SASREC).eval()
        outputs.append(model.score_next(torch.tensor(pad_sequences([[1, 2]], max_len=6))))
    assert torch.equal(outputs[0], outputs[1])
    assert np.isfinite(outputs[0].numpy()).all()


def tiny_interactions() -> Interactions:
    """Two users with ten clicks each (user 0: items 0..9, user 1: items 9..0) among 30 items;
    20% valid, 20% test."""
    events = pd.DataFrame(
        {
            "user": np.repeat([0, 1], 10),
            "item": np.r_[np.arange(10), np.arange(10)[::-1]],
            "timestamp": np.tile(np.arange(10), 2),
        }
    )
    return Interactions.from_events(events, n_users=2, n_items=30, valid_fraction=0.2, test_fraction=0.2)


def test_next_item_task_uses_the_first_held_out_click() -> None:
    task = NextItemTask.from_interactions(tiny_interactions(), "test")
    assert task.users.tolist() == [0, 1]
    assert task.histories[0].tolist() == list(range(8))  # train + valid
    assert task.targets.tolist() == [8, 1]
    valid = NextItemTask.from_interactions(tiny_interactions(), "valid")
    assert valid.histories[0].tolist() == list(range(6)) and valid.targets.tolist() == [6, 3]
    with pytest.raises(ValueError, match="'valid' or 'test'"):
        NextItemTask.from_interactions(tiny_interactions(), "train")


def test_rolling_next_item_task_has_one_example_per_held_out_click() -> None:
    task = NextItemTask.from_interactions(tiny_interactions(), "test", rolling=True)
    assert task.users.tolist() == [0, 0, 1, 1]
    assert task.targets.tolist() == [8, 9, 1, 0]
    assert task.histories[1].tolist() == list(range(9))  # the earlier test click joins the history
    assert task.seen().toarray()[1, :9].all() and not task.seen().toarray()[1, 9:].any()


def test_next_item_evaluate_hand_computed() -> None:
    task = NextItemTask.from_interactions(tiny_interactions(), "test")  # targets 8 and 1
    scores = np.zeros((2, 30))
    scores[0, 8] = 2.0  # user 0: target ranked first
    scores[1, [10, 1]] = [2.0, 1.0]  # user 1: unseen item 10 first, target second
    scores[1, 9] = 5.0  # ... an already-seen item scores highest but is excluded
    result = task.evaluate(scores, k=10)
    assert result["HR@10"] == pytest.approx(1.0)
    assert result["NDCG@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert task.evaluate(scores, k=1)["HR@1"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        task.evaluate(scores[:1])
