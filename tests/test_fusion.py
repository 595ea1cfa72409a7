"""Tests for course_utils.models.fusion: fusion modules, InfoNCE / aligner, retrieval."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.models.fusion import (
    AttentionFusion,
    ConcatFusion,
    ContrastiveAligner,
    GatedFusion,
    info_nce_loss,
    make_fusion,
    retrieval_ranks,
    retrieval_recall_at_k,
    train_aligner,
)

TINY_DIMS = [6, 10]  # tiny modality sizes, for test speed
CPU = torch.device("cpu")


def tiny_inputs(batch: int = 5, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dim, generator=generator, requires_grad=True) for dim in TINY_DIMS]


# ---------------------------------------------------------------- fusion modules


def test_concat_fusion_reproduces_the_article_example():
    text, image = torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([[5.0, 6, 7, 8]])
    fused = ConcatFusion([4, 4])(text, image)
    assert fused.tolist() == [[1, 2, 3, 4, 5, 6, 7, 8]]


@pytest.mark.parametrize("name", ["concat", "attention", "gated"])
def test_fusion_output_shape_and_gradients_reach_every_modality(name):
    torch.manual_seed(0)
    fusion = make_fusion(name, TINY_DIMS, dim=8)
    inputs = tiny_inputs()
    fused = fusion(*inputs)
    assert fused.shape == (5, fusion.output_dim)
    fused.pow(2).sum().backward()
    for index, tensor in enumerate(inputs):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, (
            f"no gradient reached modality {index}"
        )
    for parameter_name, parameter in fusion.named_parameters():
        assert parameter.grad is not None, f"no gradient for {parameter_name}"


@pytest.mark.parametrize("fusion_class", [AttentionFusion, GatedFusion])
def test_modality_weights_are_a_distribution_over_modalities(fusion_class):
    torch.manual_seed(0)
    weights = fusion_class(TINY_DIMS, dim=8).modality_weights(*tiny_inputs())
    assert weights.shape == (5, 2)
    assert torch.all(weights > 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5))


def test_gated_fusion_with_two_modalities_is_a_sigmoid_gate():
    torch.manual_seed(0)
    fusion = GatedFusion(TINY_DIMS, dim=8)
    inputs = tiny_inputs()
    gates = fusion.gates(*inputs)  # (B, 2, dim)
    logits = fusion.gate(torch.cat(inputs, dim=-1)).view(5, 2, 8)
    torch.testing.assert_close(gates[:, 0], torch.sigmoid(logits[:, 0] - logits[:, 1]))
    expected = gates[:, 0] * torch.tanh(fusion.projections[0](inputs[0])) + gates[:, 1] * torch.tanh(
        fusion.projections[1](inputs[1])
    )
    torch.testing.assert_close(fusion(*inputs), expected)


def test_fusion_modules_reject_bad_input():
    fusion = ConcatFusion(TINY_DIMS)
    with pytest.raises(ValueError, match="2 modalities"):
        fusion(torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"shape \(batch, 10\)"):
        fusion(torch.zeros(3, 6), torch.zeros(3, 9))
    with pytest.raises(ValueError, match="different batch sizes"):
        fusion(torch.zeros(3, 6), torch.zeros(4, 10))
    with pytest.raises(TypeError, match="float tensor"):
        fusion(torch.zeros(3, 6, dtype=torch.long), torch.zeros(3, 10))
    with pytest.raises(ValueError, match="unknown fusion"):
        make_fusion("sum", TINY_DIMS)
    with pytest.raises(ValueError, match="input_dims"):
        ConcatFusion([])


# ---------------------------------------------------------------- InfoNCE and the aligner


def test_info_nce_of_perfectly_aligned_orthogonal_pairs_at_low_temperature_is_near_zero():
    identity = torch.eye(4)
    assert info_nce_loss(identity, identity, temperature=0.01).item() < 1e-6


def test_info_nce_of_uninformative_embeddings_is_log_n():
    constant = torch.ones(5, 3)  # every pair looks the same: all logits equal
    assert info_nce_loss(constant, constant, temperature=0.1).item() == pytest.approx(math.log(5))


def test_info_nce_hand_computed_two_pairs():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    keys = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # pair 1 is mismatched
    # logits / T=1: [[1, 1], [0, 0]]; rows: log 2 and log 2; columns: [1,0]->log(1+e^-1), [1,0]->log(1+e)
    expected = (2 * math.log(2) + math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 4
    assert info_nce_loss(queries, keys, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)
    assert info_nce_loss(keys, queries, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        info_nce_loss(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        info_nce_loss(torch.ones(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(torch.ones(2, 2), torch.ones(2, 2), temperature=0.0)


def test_aligner_gradients_reach_both_heads_and_the_temperature():
    torch.manual_seed(0)
    aligner = ContrastiveAligner(text_dim=6, image_dim=10, embed_dim=4, hidden_dim=8)
    text, image = tiny_inputs(batch=8)
    loss = aligner(text, image)
    loss.backward()
    for name, parameter in aligner.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"no gradient for {name}"
    assert aligner.temperature.item() == pytest.approx(0.07)
    unit = aligner.embed_text(text)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(8))


def test_retrieval_ranks_hand_computed():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    queries = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.7, 0.7]])
    # query 0: own item first (rank 1); query 1: items 0 and 2 beat item 1 (rank 3); query 2: rank 1
    assert retrieval_ranks(queries, gallery).tolist() == [1, 3, 1]
    assert retrieval_recall_at_k(queries, gallery, k=1) == pytest.approx(2 / 3)
    assert retrieval_recall_at_k(queries, gallery, k=3) == 1.0
    with pytest.raises(ValueError, match="k must be between"):
        retrieval_recall_at_k(queries, gallery, k=4)
    with pytest.raises(ValueError, match="NaN"):
        retrieval_ranks(torch.full((3, 2), float("nan")), gallery)


def test_train_aligner_learns_a_hidden_pairing_far_above_chance():
    generator = torch.Generator().manual_seed(0)
    n_pairs = 200  # tiny synthetic catalogue: image = fixed random map of text + noise
    text = torch.randn(n_pairs, 6, generator=generator)
    image = torch.tanh(text @ torch.randn(6, 10, generator=generator)) + 0.05 * torch.randn(
        n_pairs, 10, generator=generator
    )
    torch.manual_seed(0)
    aligner = ContrastiveAligner(6, 10, embed_dim=8, hidden_dim=32)
    history = train_aligner(
        aligner, text, image, epochs=15, batch_size=64, lr=3e-3, device=CPU, progress=False
    )
    assert "valid_recall@10" in history.frame().columns
    recall = retrieval_recall_at_k(
        aligner.embed_text(text).detach(), aligner.embed_image(image).detach(), k=10
    )
    assert recall > 10 * (10 / n_pairs), f"recall@10 {recall:.2f} not far above chance {10 / n_pairs:.2f}"
