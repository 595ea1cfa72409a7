"""Benchmark: the cost of SmolLM2-135M-Instruct on this machine, and three paraphrases to judge by eye.

Run with ``make bench`` or ``python bench/bench_language_model.py``. Measures, in a temporary
cache folder: the cold load (GGUF conversion + save) and the warm load (cached checkpoint,
target <= ``WARM_LOAD_TARGET_S``; exit status 1 above it), generation tokens/s (greedy),
seconds per ``log_likelihood`` call (one sentence; 16 shop texts), and the peak resident
memory. Then prints few-shot paraphrases of three shop items (seed 0).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import torch

from course_utils.data import load_fashion_shop
from course_utils.models.language_model import LanguageModel, paraphrase

WARM_LOAD_TARGET_S = 20.0


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main(n_new_tokens: int = 48, n_paraphrases: int = 3) -> int:
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    shop = load_fashion_shop()
    with tempfile.TemporaryDirectory() as folder:
        cold_s, lm = timed(lambda: LanguageModel(cache_dir=folder))
        warm_s, lm = timed(lambda: LanguageModel(cache_dir=folder))
    assert lm.loaded_from == "cache"
    prompt = "Describe a warm winter coat in three sentences."
    lm.generate(prompt, max_new_tokens=4, temperature=0)  # warm-up
    generate_s, answer = timed(lambda: lm.generate(prompt, max_new_tokens=n_new_tokens, temperature=0))
    n_tokens = len(lm.tokenizer(answer)["input_ids"])
    sentence = ["The cat sat on the mat."]
    lm.log_likelihood(sentence)  # warm-up
    one_s = min(timed(lambda: lm.log_likelihood(sentence))[0] for _ in range(5))
    batch_s, _ = timed(lambda: lm.log_likelihood(shop.texts[:16]))
    results = {
        "parameters": f"{lm.n_parameters:,}",
        "cold load (convert + save) s": f"{cold_s:.1f}",
        "warm load (cached checkpoint) s": f"{warm_s:.1f}",
        "generation tokens/s (greedy)": f"{n_tokens / generate_s:.1f} ({n_tokens} tokens)",
        "log_likelihood s / sentence": f"{one_s:.3f}",
        "log_likelihood s / 16 shop texts": f"{batch_s:.2f}",
        "peak RSS MB": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
    }
    for name, value in results.items():
        print(f"{name:<34} {value}")
    for item in range(n_paraphrases):
        text = shop.texts[item]
        print(f"\nitem {item}:  {text}\nparaphrase (seed 0): {paraphrase(lm, text, seed=0)}")
    if warm_s > WARM_LOAD_TARGET_S:
        print(f"\nFAIL: warm load {warm_s:.1f} s > target {WARM_LOAD_TARGET_S} s")
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paraphrases", type=int, default=3, help="shop items to paraphrase (0: none)")
    sys.exit(main(n_paraphrases=parser.parse_args().paraphrases))
