"""The course's notebooks, in order: the single list the README table, the course book's
index and the tests agree with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    stem: str  # notebook file name without .ipynb
    title: str
    part: str
    summary: str


PARTS = {
    "0": "Orientation",
    "I": "The building blocks of large models",
    "II": "Encoders: what large models see",
    "III": "Measuring and improving diversity",
    "IV": "Large models for diversity",
    "V": "Putting it together",
}

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "00_welcome",
        "Welcome and set-up",
        "0",
        "The filter-bubble problem in one picture, environment check, tours of the shop and MovieLens.",
    ),
    Lesson(
        "01_autoencoders_and_vaes",
        "Autoencoders and VAEs",
        "I",
        "ELBO and the reparameterisation trick on shop images; Mult-VAE as a recommender.",
    ),
    Lesson("02_gans", "GANs", "I", "The minimax game, DCGAN, conditional GANs, and mode collapse measured."),
    Lesson(
        "03_self_attention",
        "Self-attention",
        "I",
        "Attention from scratch, causal masks, positional encodings, SASRec next-item recommendation.",
    ),
    Lesson(
        "04_text_encoders",
        "Text encoders",
        "II",
        "WordPiece, a pretrained MiniLM encoder, pooling, semantic search and embedding maps.",
    ),
    Lesson(
        "05_image_encoders",
        "Image encoders",
        "II",
        "An ImageNet-pretrained CNN, visual similarity search, pixels vs pretrained features.",
    ),
    Lesson(
        "06_diversity_metrics",
        "Diversity metrics",
        "III",
        "Accuracy done right and beyond-accuracy metrics: ILD, coverage, novelty, Gini, calibration.",
    ),
    Lesson(
        "07_diversity_reranking",
        "Diversity-aware re-ranking",
        "III",
        "MMR, fast greedy DPP, xQuAD and calibrated re-ranking on the accuracy-diversity frontier.",
    ),
    Lesson(
        "08_cross_modal_fusion",
        "Cross-modal fusion",
        "IV",
        "Concat, attention and gated fusion, contrastive text-image alignment, the click model rebuilt.",
    ),
    Lesson(
        "09_model_fusion",
        "Model fusion",
        "IV",
        "Score normalisation, weighted and rank fusion, a recall -> rank -> re-rank cascade.",
    ),
    Lesson(
        "10_data_augmentation",
        "Data augmentation",
        "IV",
        "Image, text and interaction augmentation, and what it does to the long tail.",
    ),
    Lesson(
        "11_gan_augmentation",
        "GAN-based augmentation",
        "IV",
        "Generated items for rare categories and CF-GAN purchase vectors for sparse users.",
    ),
    Lesson(
        "12_filter_bubble_simulation",
        "Filter-bubble simulation",
        "V",
        "A closed feedback loop with simulated users: relevance-only vs diversity-aware policies.",
    ),
    Lesson(
        "13_capstone",
        "Capstone",
        "V",
        "The whole pipeline on both datasets: final table, frontier, cost, privacy, explanations.",
    ),
    Lesson(
        "14_the_verdict",
        "The verdict",
        "V",
        "The article's claims tested head-on: CF, content and hybrids with CIs, cold start, a verdict.",
    ),
)
