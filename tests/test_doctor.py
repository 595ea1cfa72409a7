import importlib.metadata

from course_utils.__main__ import main
from course_utils.tools import doctor


def test_doctor_reports_versions_device_and_data(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert "torch" in out and importlib.metadata.version("torch") in out
    for name in ("device", "text model", "image model", "Fashion Shop", "MovieLens-100k"):
        assert name in out
    assert status == (0 if "To fix" not in out else 1)


def test_doctor_names_the_fix_for_what_is_missing(monkeypatch, capsys):
    def missing(distribution):
        raise importlib.metadata.PackageNotFoundError(distribution)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "❌ torch" in out and "To fix" in out and "make course" in out


def test_notebooks_check_command(capsys):
    assert main(["notebooks", "--check"]) == 0, capsys.readouterr().out
