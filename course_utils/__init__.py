"""Helper package of the course "Beyond the Filter Bubble: large pretrained models for diverse
recommendations". The notebooks import it; each module is small and meant to be read.

Module map (README.md has the same table):
``config`` paths, fast mode, device, seeds · ``train`` the training loop · ``plots`` figures ·
``diagrams`` schematic diagrams · ``checksums`` file sha256 · ``exercises`` self-checks ·
``data`` Fashion Shop, MovieLens-100k, the user simulator · ``encoders`` pretrained text/image
encoders and the embedding cache · ``models`` VAE, GAN, attention/SASRec, recommenders, fusion, the SmolLM2
language model · ``augment`` data augmentation · ``metrics`` accuracy and beyond-accuracy
metrics · ``protocol`` the evaluation protocol and choosing on validation · ``stats``
confidence intervals and ``claim_better`` · ``ranking`` top-k and shortlists (numpy only) ·
``rerank`` diversity re-ranking · ``coldstart`` new-item split and metrics · ``verdict``
notebook 14's yardsticks and verdict rule · ``costs`` time and memory of a component ·
``llm_stage`` the language model as re-ranker and explainer · ``simulation`` the feedback loop ·
``pipeline`` the capstone · ``tools`` notebook generation, course book, doctor.
"""

__version__ = "0.1.0"
