"""Build the Fashion Shop dataset from real Fashion-MNIST images (deterministic for a seed).

    apt-get install dataset-fashion-mnist        # Debian/Ubuntu: the images, MIT licence (Zalando)
    python datasets/fashion_shop/build.py        # writes datasets/fashion_shop/*, prints statistics
    python datasets/fashion_shop/build.py --n-items 300 --n-users 50 --out /tmp/shop   # a tiny build

Steps: pick images per category from the Fashion-MNIST training set -> sample attributes ->
write titles and descriptions -> colourise the images -> compute the visual (shape) features
-> sample users (``course_utils.data.simulate``) -> log impressions under a popularity-biased
policy -> write compressed files with fixed timestamps and a MANIFEST.json of sha256
checksums. The same seed gives byte-identical files on the same platform and library versions.
See README.md beside this file (the dataset card).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]  # this folder (catalog.py) and the repo (course_utils)

import catalog  # noqa: E402

from course_utils.checksums import file_sha256  # noqa: E402
from course_utils.data.simulate import ATTRIBUTES, UserSimulator, log_impressions  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
VISUAL_DIMENSIONS = 8
SLATE_SIZE = 10
MIN_CLICKS = 5  # per user, so that every user has train, validation and test clicks
FORMAT_VERSION = 1
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (LeCun's MNIST format: big-endian dims after a magic number)."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, n_dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{n_dims}I", data[4 : 4 + 4 * n_dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def load_fashion_mnist(source: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Training images (60000, 28, 28), labels (60000,) and the sha256 of the source files."""
    missing = [name for name in FASHION_MNIST_FILES if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} not found in {source}. On Debian/Ubuntu run "
            "`sudo apt-get install dataset-fashion-mnist`, or pass --source DIR holding the original "
            "*-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist"
        )
    checksums = {name: file_sha256(source / name) for name in FASHION_MNIST_FILES}
    return read_idx(source / FASHION_MNIST_FILES[0]), read_idx(source / FASHION_MNIST_FILES[1]), checksums


def visual_features(grey: np.ndarray, categories: np.ndarray, n_components: int) -> np.ndarray:
    """Shape details: principal components of the images after removing each category's mean image.

    ``X = grey / 255`` flattened (n, 784), minus its category's mean row; ``X = U S V^T``; the
    features are ``U S = X V`` for the top components (V from the eigenvectors of ``X^T X``),
    signed so each component's largest loading is positive and scaled to unit variance.
    Category is removed so they carry only within-category shape (cut, sleeves, texture),
    the part of the image the text never describes.
    """
    pixels = grey.reshape(len(grey), -1).astype(float) / 255.0  # (n, 784)
    for label in np.unique(categories):
        pixels[categories == label] -= pixels[categories == label].mean(axis=0)
    scatter = pixels.T @ pixels  # (784, 784)
    top = [len(scatter) - n_components, len(scatter) - 1]
    _, eigenvectors = scipy.linalg.eigh(scatter, subset_by_index=top)  # ascending eigenvalues
    loadings = eigenvectors[:, ::-1]  # (784, n_components) = top rows of V^T, transposed
    loadings = loadings * np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(n_components)])
    scores = pixels @ loadings  # (n, n_components) = U S
    return scores / scores.std(axis=0)


def build_catalog(images: np.ndarray, labels: np.ndarray, n_items: int, rng: np.random.Generator):
    """Items table (attributes and text), RGB images (n, 28, 28, 3) and greyscale originals."""
    counts = catalog.category_counts(n_items)
    source_index = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == label), size=count, replace=False)
            for label, count in enumerate(counts)
        ]
    )
    source_index = source_index[rng.permutation(n_items)]  # item ids in random category order
    categories = labels[source_index].astype(np.int64)
    items = catalog.sample_attributes(categories, rng)
    titles, descriptions = catalog.write_texts(items, rng)
    items.insert(0, "item_id", np.arange(n_items))
    items["title"] = titles
    items["description"] = descriptions
    items["fashion_mnist_index"] = source_index
    grey = images[source_index]
    return items, catalog.colourise(grey, list(items["colour"]), rng), grey


def attribute_codes(items: pd.DataFrame) -> np.ndarray:
    """(n_items, 6) integer codes of each attribute, in ``ATTRIBUTES`` order, from fixed vocabularies."""
    vocabularies = {
        "category": catalog.CATEGORIES,
        "colour": tuple(catalog.PALETTE),
        "material": tuple(catalog.MATERIAL_PHRASES),
        "style": catalog.STYLES,
        "season": catalog.SEASONS,
        "brand": tuple(name for name, _, _ in catalog.BRANDS),
    }
    return np.stack(
        [
            items[a].map({value: code for code, value in enumerate(vocabularies[a])}).to_numpy(np.int64)
            for a in ATTRIBUTES
        ],
        axis=1,
    )


def gini(values: np.ndarray) -> float:
    """Gini coefficient: ``sum_i (2i - n - 1) x_(i) / (n sum x)`` over ascending x, i = 1..n."""
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    return float(((2 * np.arange(1, n + 1) - n - 1) * ordered).sum() / (n * ordered.sum()))


def statistics(items: pd.DataFrame, impressions: pd.DataFrame, n_users: int) -> dict:
    """The numbers the dataset card reports (printed by the build and stored in the manifest)."""
    n_items = len(items)
    clicks = impressions[impressions["clicked"]]
    clicks_per_user = np.bincount(clicks["user"], minlength=n_users)
    return {
        "items": n_items,
        "users": n_users,
        "impressions": len(impressions),
        "clicks": len(clicks),
        "ctr": round(float(impressions["clicked"].mean()), 4),
        "items_per_category": {k: int(v) for k, v in items["category"].value_counts().sort_index().items()},
        "clicks_per_user": {
            "min": int(clicks_per_user.min()),
            "median": float(np.median(clicks_per_user)),
            "max": int(clicks_per_user.max()),
        },
        "sessions_per_user_median": float(
            np.median(np.bincount(impressions["user"], minlength=n_users) // SLATE_SIZE)
        ),
        "exposure_gini": round(gini(np.bincount(impressions["item"], minlength=n_items)), 4),
        "click_gini": round(gini(np.bincount(clicks["item"], minlength=n_items)), 4),
        "items_never_shown": int((np.bincount(impressions["item"], minlength=n_items) == 0).sum()),
        "top_1pct_items_share_of_impressions": round(
            float(
                np.sort(np.bincount(impressions["item"], minlength=n_items))[::-1][
                    : max(1, n_items // 100)
                ].sum()
                / len(impressions)
            ),
            4,
        ),
    }


# -- deterministic writers -------------------------------------------------------------------------


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible: fixed member timestamps, no pickles."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            archive.writestr(member, buffer.getvalue(), compresslevel=6)


def write_csv_gz(path: Path, table: pd.DataFrame) -> None:
    """CSV (UTF-8, ``\\n`` line ends) gzipped with mtime 0 and no file name in the header."""
    text = table.to_csv(index=False, lineterminator="\n").encode("utf-8")
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(text)


# -- the build -------------------------------------------------------------------------------------
def build(
    out: Path, seed: int = 42, n_items: int = 4000, n_users: int = 1000, source: Path = FASHION_MNIST_DIR
) -> dict:
    """Build every file into ``out`` (replaced atomically, file by file) and return the manifest.

    Linear algebra runs on one BLAS thread: multi-threaded reductions may sum in a different
    order on another machine, and the build must give the same bytes everywhere it can.
    """
    with threadpool_limits(limits=1):
        return _build(out, seed, n_items, n_users, source)


def _build(out: Path, seed: int, n_items: int, n_users: int, source: Path) -> dict:
    started = time.perf_counter()
    images, labels, source_checksums = load_fashion_mnist(source)
    rng = np.random.default_rng(seed)

    items, rgb, grey = build_catalog(images, labels, n_items, rng)
    visual = visual_features(grey, items["category_id"].to_numpy(), VISUAL_DIMENSIONS)
    appeal = rng.normal(size=n_items)
    simulator = UserSimulator.sample(attribute_codes(items), visual, appeal, n_users, rng)
    sessions = np.clip(np.rint(rng.lognormal(np.log(30), 0.6, size=n_users)), 4, 200).astype(int)
    impressions = log_impressions(simulator, sessions, rng, slate_size=SLATE_SIZE, min_clicks=MIN_CLICKS)

    per_user = impressions.groupby("user")
    users = pd.DataFrame(
        {
            "user_id": np.arange(n_users),
            "first_seen": per_user["timestamp"].min().reindex(range(n_users)).to_numpy(),
            "sessions": per_user.size().reindex(range(n_users)).to_numpy() // SLATE_SIZE,
            "impressions": per_user.size().reindex(range(n_users)).to_numpy(),
            "clicks": per_user["clicked"].sum().reindex(range(n_users)).to_numpy(),
        }
    )
    stats = statistics(items, impressions, n_users)
    if stats["clicks_per_user"]["min"] < MIN_CLICKS:
        raise RuntimeError(
            f"some users have fewer than {MIN_CLICKS} clicks: {stats['clicks_per_user']}; "
            "raise max_sessions or the base click logit"
        )

    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=out))
    try:
        write_csv_gz(staging / "items.csv.gz", items)
        write_csv_gz(staging / "users.csv.gz", users)
        write_npz(staging / "images.npz", {"images": rgb})
        write_npz(
            staging / "impressions.npz",
            {
                "user": impressions["user"].to_numpy(np.int16),
                "item": impressions["item"].to_numpy(np.int16),
                "position": impressions["position"].to_numpy(np.int8),
                "timestamp": impressions["timestamp"].to_numpy(np.int64),
                "clicked": impressions["clicked"].to_numpy(bool),
            },
        )
        write_npz(staging / "simulator.npz", simulator.to_arrays())
        files = sorted(p.name for p in staging.iterdir())
        manifest = {
            "dataset": "fashion_shop",
            "format_version": FORMAT_VERSION,
            "build": {
                "seed": seed,
                "n_items": n_items,
                "n_users": n_users,
                "slate_size": SLATE_SIZE,
                "visual_dimensions": VISUAL_DIMENSIONS,
            },
            "source": {
                "name": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), Zalando SE, MIT licence",
                "debian_package": "dataset-fashion-mnist",
                "sha256": source_checksums,
            },
            "files": {
                name: {"sha256": file_sha256(staging / name), "bytes": (staging / name).stat().st_size}
                for name in files
            },
            "statistics": stats,
        }
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (out / "MANIFEST.json").unlink(missing_ok=True)  # a half-replaced folder must fail verification
        for name in [*files, "MANIFEST.json"]:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest["build_seconds"] = round(time.perf_counter() - started, 1)
    return manifest


def report(manifest: dict, out: Path) -> str:
    """Human-readable statistics (the dataset card quotes them)."""
    s = manifest["statistics"]
    lines = [
        f"Fashion Shop built in {manifest['build_seconds']} s -> {out}",
        f"  items {s['items']}, users {s['users']}, impressions {s['impressions']}, clicks {s['clicks']}, "
        f"CTR {s['ctr']:.2%}",
        "  items per category: " + ", ".join(f"{k} {v}" for k, v in s["items_per_category"].items()),
        "  clicks per user: min {min}, median {median:g}, max {max}".format(**s["clicks_per_user"]),
        f"  sessions per user (median): {s['sessions_per_user_median']:g}",
        f"  popularity Gini of exposures {s['exposure_gini']:.3f}, of clicks {s['click_gini']:.3f}; "
        f"top 1% of items get {s['top_1pct_items_share_of_impressions']:.1%} of impressions; "
        f"{s['items_never_shown']} items never shown",
        "  files: " + ", ".join(f"{k} {v['bytes'] / 1e6:.2f} MB" for k, v in manifest["files"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-items", type=int, default=4000)
    parser.add_argument("--n-users", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: beside this script)")
    parser.add_argument(
        "--source", type=Path, default=FASHION_MNIST_DIR, help="folder with Fashion-MNIST *.gz"
    )
    args = parser.parse_args(argv)
    if args.n_items < 10 * SLATE_SIZE or args.n_users < 1:
        parser.error(f"need --n-items >= {10 * SLATE_SIZE} and --n-users >= 1")
    manifest = build(args.out, args.seed, args.n_items, args.n_users, args.source)
    print(report(manifest, args.out))


if __name__ == "__main__":
    main()
