import numpy as np
import pytest
import torch

from course_utils import config


def test_fast_mode_reads_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.fast_mode()
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not config.fast_mode()
    monkeypatch.delenv("COURSE_FAST")
    assert not config.fast_mode()


def test_directories_are_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert config.course_data_dir() == tmp_path / "data"
    assert config.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert config.course_data_dir() == config.REPO_ROOT / "data"


def test_pick_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert config.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        config.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was requested"):
            config.pick_device("cuda")


def test_seed_everything_is_deterministic():
    rng = config.seed_everything(7)
    first = (rng.random(3), torch.rand(3), np.random.rand(3))
    rng = config.seed_everything(7)
    second = (rng.random(3), torch.rand(3), np.random.rand(3))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
