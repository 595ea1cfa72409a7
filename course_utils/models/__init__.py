"""Models of the course, one concept per module.

``vae`` (VAE, Mult-VAE) · ``gan`` (MLP GAN, DCGAN, conditional GAN, sample diversity) ·
``attention`` (scaled dot-product and multi-head attention, SASRec) · ``recommenders``
(popularity, item-kNN, MF/BPR, EASE, content-based: the uniform ``fit / score / recommend`` interface) ·
``fusion`` (concat / attention / gated fusion, contrastive aligner) · ``click_model`` (the
article's click model with user profiles and a position bias) ·
``score_fusion`` (score normalisation, weighted and rank fusion, cascades) · ``language_model``
(SmolLM2-135M-Instruct: generation, sentence likelihoods, paraphrase, LM word replacement, yes/no
re-ranking).
"""
