import numpy as np
import pytest
import torch

from course_utils import config


@pytest.mark.parametrize("value", ["1", "true", "YES", " on ", "True"])
def test_fast_mode_true_words(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert config.fast_mode() is True


@pytest.mark.parametrize("value", ["0", "false", "no", "OFF", "", "   "])
def test_fast_mode_false_words_and_empty(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert config.fast_mode() is False


def test_fast_mode_unset_is_full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert config.fast_mode() is False


@pytest.mark.parametrize("value", ["garbage", "2", "y", "true,"])
def test_fast_mode_refuses_unknown_values(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    with pytest.raises(ValueError, match=r"COURSE_FAST=.*1, true, yes, on.*0, false, no, off"):
        config.fast_mode()


def test_directories_are_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert config.course_data_dir() == tmp_path / "data"
    assert config.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.delenv("COURSE_CACHE_DIR")
    assert config.course_data_dir() == config.REPO_ROOT / "data"
    assert config.cache_dir() == config.REPO_ROOT / ".cache"


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_directory_settings_mean_the_default_not_the_cwd(monkeypatch, value):
    monkeypatch.setenv("COURSE_CACHE_DIR", value)
    monkeypatch.setenv("COURSE_DATA_DIR", value)
    assert config.cache_dir() == config.REPO_ROOT / ".cache"
    assert config.course_data_dir() == config.REPO_ROOT / "data"


def test_relative_directory_settings_are_under_the_repo_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the cwd must not matter
    monkeypatch.setenv("COURSE_CACHE_DIR", "my-cache")
    monkeypatch.setenv("COURSE_DATA_DIR", "../shared/data")
    assert config.cache_dir() == config.REPO_ROOT / "my-cache"
    assert config.course_data_dir() == config.REPO_ROOT / "../shared/data"


def test_pick_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert config.pick_device("cpu") == torch.device("cpu")
    assert config.pick_device(" CPU ") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device='tpu' is not a device name.*devices found on this machine"):
        config.pick_device("tpu")


def test_a_device_already_picked_is_checked_like_its_name(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert config.pick_device(torch.device("cpu")) == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"device='cuda' asks for CUDA"):
            config.pick_device(torch.device("cuda"))


def test_available_devices_lists_every_gpu():
    devices = config.available_devices()
    assert devices[0] == "cpu"
    assert sum(name.startswith("cuda:") for name in devices) == (
        torch.cuda.device_count() if torch.cuda.is_available() else 0
    )


def test_an_unknown_course_device_names_the_variable(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "garbage")
    with pytest.raises(ValueError, match=r"COURSE_DEVICE='garbage'.*devices found.*unset COURSE_DEVICE"):
        config.pick_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_error_names_course_device_and_the_devices_found(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cuda'.*no CUDA GPU.*devices found .*: cpu"):
        config.pick_device()
    monkeypatch.setenv("COURSE_DEVICE", "cuda:0")
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cuda:0' asks for a GPU that is not there"):
        config.pick_device()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_is_accepted_when_that_gpu_exists(monkeypatch):
    last = torch.cuda.device_count() - 1
    monkeypatch.setenv("COURSE_DEVICE", f"cuda:{last}")
    assert config.pick_device() == torch.device(f"cuda:{last}")
    monkeypatch.setenv("COURSE_DEVICE", f"cuda:{last + 1}")
    with pytest.raises(RuntimeError, match=rf"COURSE_DEVICE='cuda:{last + 1}'.*cuda:{last}"):
        config.pick_device()


def test_seed_everything_is_deterministic():
    rng = config.seed_everything(7)
    first = (rng.random(3), torch.rand(3), np.random.rand(3))
    rng = config.seed_everything(7)
    second = (rng.random(3), torch.rand(3), np.random.rand(3))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
