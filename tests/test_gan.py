"""Tests for course_utils.models.gan: losses, networks, training, and sample diversity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    generate,
    generator_loss,
    images_to_gan_tensor,
    sample_diversity,
    to_uint8,
    train_category_classifier,
    train_gan,
)

TINY_DCGAN = {"channels": 4}  # small for speed
TINY_MLP = {"hidden_dim": 8}
CPU = torch.device("cpu")


def two_class_images(n_per_class: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: a bright square in the top-left corner; class 1: in the bottom-right corner."""
    images = np.zeros((2 * n_per_class, 28, 28, 3), dtype=np.uint8)
    images[:n_per_class, 2:12, 2:12] = 255
    images[n_per_class:, 16:26, 16:26] = 255
    return images, np.repeat([0, 1], n_per_class)


def test_discriminator_loss_hand_computed() -> None:
    # logits 0 -> D = 1/2 on both: -log(1/2) - log(1 - 1/2) = 2 log 2
    assert discriminator_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2))
    # D(real) = sigmoid(2), D(fake) = sigmoid(-1): -log sigmoid(2) - log(1 - sigmoid(-1))
    expected = -math.log(1 / (1 + math.exp(-2))) - math.log(1 - 1 / (1 + math.exp(1)))
    assert discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0])).item() == pytest.approx(expected)


def test_generator_loss_is_non_saturating() -> None:
    assert generator_loss(torch.zeros(3)).item() == pytest.approx(math.log(2))
    # a discriminator that confidently rejects the fake (logit -10) still gives a strong gradient
    fake_logits = torch.tensor([-10.0], requires_grad=True)
    generator_loss(fake_logits).backward()
    assert fake_logits.grad.abs().item() == pytest.approx(1.0, abs=1e-3)
    # whereas the minimax form log(1 - D) has almost none there
    saturating = torch.tensor([-10.0], requires_grad=True)
    torch.log1p(-torch.sigmoid(saturating)).sum().backward()
    assert saturating.grad.abs().item() < 1e-3


def test_losses_are_numerically_stable_for_extreme_logits() -> None:
    extreme = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(discriminator_loss(extreme, extreme))
    assert torch.isfinite(generator_loss(extreme))


def test_network_shapes_and_ranges() -> None:
    torch.manual_seed(0)
    z, labels = torch.randn(5, 64), torch.tensor([0, 1, 2, 1, 0])
    for generator, discriminator, y in [
        (MLPGenerator(**TINY_MLP), MLPDiscriminator(**TINY_MLP), None),
        (DCGANGenerator(**TINY_DCGAN), DCGANDiscriminator(**TINY_DCGAN), None),
        (DCGANGenerator(n_classes=3, **TINY_DCGAN), DCGANDiscriminator(n_classes=3, **TINY_DCGAN), labels),
    ]:
        fake = generator(z, y)
        assert fake.shape == (5, 3, 28, 28)
        assert fake.min() >= -1 and fake.max() <= 1
        assert discriminator(fake, y).shape == (5,)


def test_conditioning_errors() -> None:
    with pytest.raises(ValueError, match="labels"):
        DCGANGenerator(n_classes=3, **TINY_DCGAN)(torch.randn(2, 64))
    with pytest.raises(ValueError, match="labels"):
        DCGANDiscriminator(**TINY_DCGAN)(torch.zeros(2, 3, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="unconditional"):
        MLPGenerator(**TINY_MLP)(torch.randn(2, 64), torch.tensor([0, 1]))


def test_conditional_generator_output_depends_on_label() -> None:
    torch.manual_seed(0)
    generator = DCGANGenerator(n_classes=3, **TINY_DCGAN).eval()
    z = torch.randn(1, 64)
    assert not torch.allclose(generator(z, torch.tensor([0])), generator(z, torch.tensor([2])))


def test_image_scaling_round_trip() -> None:
    images, _ = two_class_images(2)
    tensor = images_to_gan_tensor(images)
    assert tensor.min() == -1 and tensor.max() == 1
    assert np.array_equal(to_uint8(tensor), images)


def test_generate_is_deterministic_and_validates_labels() -> None:
    torch.manual_seed(0)
    generator = DCGANGenerator(n_classes=2, **TINY_DCGAN)
    first = generate(generator, 4, labels=[0, 1, 0, 1], seed=3)
    assert first.shape == (4, 28, 28, 3) and first.dtype == np.uint8
    assert np.array_equal(first, generate(generator, 4, labels=[0, 1, 0, 1], seed=3))
    assert generator.training  # generate() restores the mode it found
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        generate(generator, 4, labels=[0, 1])


def test_tiny_gan_training_runs_logs_and_is_reproducible() -> None:
    images, labels = two_class_images()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        generator = DCGANGenerator(n_classes=2, **TINY_DCGAN)
        discriminator = DCGANDiscriminator(n_classes=2, **TINY_DCGAN)
        runs.append(
            train_gan(
                generator,
                discriminator,
                images,
                epochs=2,
                labels=labels,
                batch_size=8,
                n_fixed_samples=6,
                device=CPU,
            )
        )
    frame = runs[0].history.frame()
    assert list(frame.columns) == ["d_loss", "g_loss", "d_real", "d_fake"]
    assert len(runs[0].samples_per_epoch) == 2 and runs[0].samples_per_epoch[0].shape == (6, 28, 28, 3)
    assert runs[0].history.records == runs[1].history.records
    assert np.array_equal(runs[0].samples_per_epoch[-1], runs[1].samples_per_epoch[-1])


def test_tiny_discriminator_learns_to_separate_real_from_noise() -> None:
    # With the generator barely trained, D's loss must fall below the chance value 2 log 2.
    images, _ = two_class_images()
    torch.manual_seed(0)
    run = train_gan(
        MLPGenerator(**TINY_MLP),
        MLPDiscriminator(**TINY_MLP),
        images,
        epochs=3,
        batch_size=8,
        generator_lr=1e-5,
        discriminator_lr=1e-2,
        n_fixed_samples=2,
        device=CPU,
    )
    assert run.history.last("d_loss") < 2 * math.log(2)
    assert run.history.last("d_real") > run.history.last("d_fake")


def test_train_gan_validates_input() -> None:
    images, labels = two_class_images(2)
    with pytest.raises(ValueError, match="one entry per image"):
        train_gan(
            DCGANGenerator(n_classes=2, **TINY_DCGAN),
            DCGANDiscriminator(n_classes=2, **TINY_DCGAN),
            images,
            epochs=1,
            labels=labels[:3],
            device=CPU,
        )
    with pytest.raises(ValueError, match="generator_steps"):
        train_gan(
            MLPGenerator(**TINY_MLP),
            MLPDiscriminator(**TINY_MLP),
            images,
            epochs=1,
            generator_steps=0,
            device=CPU,
        )


def test_tiny_classifier_separates_two_obvious_classes() -> None:
    images, labels = two_class_images(20)
    model, accuracy = train_category_classifier(images, labels, epochs=8, learning_rate=1e-2, device=CPU)
    assert accuracy == 1.0
    probabilities = model.predict_proba(images)
    assert probabilities.shape == (40, 2) and np.allclose(probabilities.sum(1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        train_category_classifier(images, labels[:5])


def test_sample_diversity_hand_computed() -> None:
    uniform = sample_diversity(np.arange(40) % 4, n_classes=4)
    assert uniform.normalised_entropy == pytest.approx(1.0)
    assert uniform.class_share.tolist() == [0.25] * 4
    collapsed = sample_diversity(np.full(10, 2), n_classes=4)
    assert collapsed.normalised_entropy == 0.0
    assert collapsed.class_share.tolist() == [0, 0, 1, 0]
    # half in one class, half in another, of four: entropy ln 2 / ln 4 = 1/2
    assert sample_diversity(np.array([0, 0, 1, 1]), 4).normalised_entropy == pytest.approx(0.5)


def test_sample_diversity_from_probabilities() -> None:
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    report = sample_diversity(probabilities, n_classes=2)
    assert report.class_share.tolist() == pytest.approx([0.5, 0.5])
    assert report.normalised_entropy == pytest.approx(1.0)


def test_sample_diversity_errors() -> None:
    with pytest.raises(ValueError, match="no samples"):
        sample_diversity(np.array([], dtype=int), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        sample_diversity(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="integer"):
        sample_diversity(np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match="sum to 1"):
        sample_diversity(np.array([[0.5, 0.1]]), 2)
    with pytest.raises(ValueError, match="3 columns"):
        sample_diversity(np.array([[0.5, 0.5]]), 3)
    with pytest.raises(ValueError, match="n_classes"):
        sample_diversity(np.array([0, 0]), 1)
