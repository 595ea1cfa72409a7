"""Load the Fashion Shop: a semi-synthetic multimodal catalog with simulated shoppers' click logs.

The files live in ``datasets/fashion_shop/`` (built by ``build.py`` there; the dataset card is
its ``README.md``). Loading verifies every file against the sha256 in ``MANIFEST.json``, so a
truncated or edited file fails loudly instead of giving silently different numbers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.checksums import file_sha256
from course_utils.config import DATASETS_DIR
from course_utils.data.interactions import Interactions
from course_utils.data.simulate import UserSimulator

DEFAULT_ROOT = DATASETS_DIR / "fashion_shop"
ITEM_COLUMNS = (
    "item_id",
    "category_id",
    "category",
    "colour",
    "material",
    "style",
    "season",
    "brand",
    "price",
    "title",
    "description",
    "fashion_mnist_index",
)
IMPRESSION_COLUMNS = ("user", "item", "position", "timestamp", "clicked")
USER_COLUMNS = ("user_id", "first_seen", "sessions", "impressions", "clicks")
IMAGE_SHAPE = (28, 28, 3)
DATA_FILES = ("items.csv.gz", "users.csv.gz", "images.npz", "impressions.npz", "simulator.npz")
REBUILD_HINT = (
    "restore it with `git checkout datasets/fashion_shop` or rebuild: python datasets/fashion_shop/build.py"
)


class DatasetIntegrityError(RuntimeError):
    """A dataset file is missing, or its checksum differs from the manifest."""


@dataclass(frozen=True)
class FashionShop:
    """The Fashion Shop, loaded.

    ``items``        one row per item: ``item_id, category_id, category, colour, material,
                     style, season, brand, price, title, description, fashion_mnist_index``
                     (the row of the Fashion-MNIST training set the image came from).
    ``images``       uint8 (n_items, 28, 28, 3), RGB, black background; ``images[i]`` is item ``i``.
    ``users``        ``user_id, first_seen, sessions, impressions, clicks`` (observable activity).
    ``impressions``  the logs: ``user, item, position (0 = top), timestamp (Unix s), clicked``.
    ``interactions`` clicks as :class:`Interactions`: per-user temporal 80/10/10 split.
    ``simulator``    the :class:`UserSimulator` that produced the clicks (ground truth; never a
                     feature for a model, only the "true user" of the feedback-loop notebook).
    ``manifest``     build settings, checksums and the statistics printed by the build.
    """

    items: pd.DataFrame
    images: np.ndarray
    users: pd.DataFrame
    impressions: pd.DataFrame
    interactions: Interactions
    simulator: UserSimulator
    manifest: dict

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.items)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.users)

    @property
    def category_names(self) -> list[str]:
        """The ten Fashion-MNIST category names, indexed by ``category_id``."""
        return list(self.items.drop_duplicates("category_id").sort_values("category_id")["category"])

    @property
    def texts(self) -> list[str]:
        """``"<title>. <description>"`` per item, row ``i`` = item ``i``: the input of every text encoder.

        The course's one shop item text (``catalog_text_embeddings(shop)`` embeds it).
        """
        return (self.items["title"] + ". " + self.items["description"]).tolist()

    def subset(self, item_ids: Sequence[int] | np.ndarray) -> FashionShop:
        """A smaller, self-consistent shop with only the items ``item_ids`` (e.g. for fast mode).

        Item ``j`` of the result is item ``item_ids[j]`` of this shop, so ids are renumbered
        ``0..len(item_ids)-1`` everywhere: ``items`` (``item_id`` rewritten), ``images``,
        ``texts``, ``impressions`` (only the rows showing a kept item; slate ``position`` stays as
        logged, so a slate may now have gaps), ``interactions`` (rebuilt from the kept clicks,
        same temporal split) and ``simulator`` (its item side restricted, so it scores the
        sub-catalog; the users' tastes are unchanged). All users are kept with their ids;
        ``users.impressions`` and ``users.clicks`` are recounted on the kept logs, while
        ``first_seen`` and ``sessions`` still describe the full logs, and so do the ``manifest``
        statistics (``manifest["subset"]`` records the sizes).
        """
        kept = _checked_item_ids(item_ids, self.n_items)
        new_id = np.full(self.n_items, -1, dtype=np.int64)
        new_id[kept] = np.arange(len(kept))
        items = self.items.iloc[kept].reset_index(drop=True).assign(item_id=np.arange(len(kept)))
        logs = self.impressions[new_id[self.impressions["item"].to_numpy()] >= 0]
        impressions = logs.assign(item=new_id[logs["item"].to_numpy()]).reset_index(drop=True)
        users = self.users.assign(
            impressions=np.bincount(impressions["user"], minlength=self.n_users),
            clicks=np.bincount(impressions["user"], weights=impressions["clicked"], minlength=self.n_users)
            .astype(self.users["clicks"].dtype),
        )
        simulator = dataclasses.replace(
            self.simulator,
            item_codes=self.simulator.item_codes[kept],
            visual=self.simulator.visual[kept],
            appeal=self.simulator.appeal[kept],
        )
        clicks = impressions.loc[impressions["clicked"], ["user", "item", "timestamp"]]
        interactions = Interactions.from_events(clicks, n_users=self.n_users, n_items=len(kept))
        manifest = {**self.manifest, "subset": {"n_items": len(kept), "of_n_items": self.n_items}}
        images = self.images[kept]
        _check_schema(items, users, images, impressions, simulator)
        return FashionShop(items, images, users, impressions, interactions, simulator, manifest)

    def __repr__(self) -> str:
        return (
            f"FashionShop({self.n_items} items, {self.n_users} users, {len(self.impressions)} impressions, "
            f"{int(self.impressions['clicked'].sum())} clicks; {self.interactions!r})"
        )


def verify_fashion_shop(root: Path | str | None = None) -> str:
    """Check every file of the dataset against ``MANIFEST.json``; return a one-line summary.

    Raises :class:`DatasetIntegrityError` naming the missing or corrupted file and the fix.
    """
    root = Path(root) if root is not None else DEFAULT_ROOT
    manifest = _read_manifest(root)
    for name, expected in manifest["files"].items():
        path = root / name
        if not path.is_file():
            raise DatasetIntegrityError(f"Fashion Shop file {path} is missing; {REBUILD_HINT}")
        actual = file_sha256(path)
        if actual != expected["sha256"]:
            raise DatasetIntegrityError(
                f"Fashion Shop file {path} is corrupted or was modified: sha256 {actual[:12]}... differs "
                f"from {expected['sha256'][:12]}... in MANIFEST.json; {REBUILD_HINT}"
            )
    return f"{len(manifest['files'])} files verified (sha256) in {root}"


def load_fashion_shop(root: Path | str | None = None, verify: bool = True) -> FashionShop:
    """Load the Fashion Shop from ``root`` (default ``datasets/fashion_shop``).

    ``verify=True`` checks every file's sha256 against the manifest first (about a tenth of a
    second). Clicks become :class:`Interactions` with ``Interactions.from_events`` (per-user
    temporal split: last 10% of each user's clicks -> test, the 10% before -> validation).
    """
    root = Path(root) if root is not None else DEFAULT_ROOT
    if verify:
        verify_fashion_shop(root)
    manifest = _read_manifest(root)

    items = pd.read_csv(root / "items.csv.gz")
    users = pd.read_csv(root / "users.csv.gz")
    images = _read_npz(root / "images.npz")["images"]
    logs = _read_npz(root / "impressions.npz")
    impressions = pd.DataFrame(
        {
            "user": logs["user"].astype(np.int64),
            "item": logs["item"].astype(np.int64),
            "position": logs["position"].astype(np.int64),
            "timestamp": logs["timestamp"].astype(np.int64),
            "clicked": logs["clicked"].astype(bool),
        }
    )
    simulator = UserSimulator.from_arrays(_read_npz(root / "simulator.npz"))
    _check_schema(items, users, images, impressions, simulator)

    clicks = impressions.loc[impressions["clicked"], ["user", "item", "timestamp"]]
    interactions = Interactions.from_events(clicks, n_users=len(users), n_items=len(items))
    return FashionShop(items, images, users, impressions, interactions, simulator, manifest)


def _checked_item_ids(item_ids: Sequence[int] | np.ndarray, n_items: int) -> np.ndarray:
    """``item_ids`` as a 1-D int64 array of distinct ids in ``0..n_items-1``, or a clear error."""
    ids = np.asarray(item_ids)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError(f"item_ids must be a non-empty 1-D list of item ids, got shape {ids.shape}")
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(
            f"item_ids must be integer item ids, got dtype {ids.dtype}; "
            "for a boolean mask use np.flatnonzero(mask)"
        )
    if ids.min() < 0 or ids.max() >= n_items:
        raise ValueError(f"item_ids must lie in 0..{n_items - 1}, got values from {ids.min()} to {ids.max()}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("item_ids contains repeated ids; pass each item once (e.g. np.unique(item_ids))")
    return ids.astype(np.int64)


def _read_manifest(root: Path) -> dict:
    path = root / "MANIFEST.json"
    if not path.is_file():
        raise DatasetIntegrityError(
            f"no MANIFEST.json in {root}: is this the Fashion Shop folder? {REBUILD_HINT}"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetIntegrityError(f"{path} is not valid JSON ({error}); {REBUILD_HINT}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise DatasetIntegrityError(f"{path} lists no files (expected a \"files\" table); {REBUILD_HINT}")
    unlisted = [name for name in DATA_FILES if name not in manifest["files"]]
    if unlisted:  # a file the loader reads must never go unverified
        raise DatasetIntegrityError(f"{path} has no checksum for {', '.join(unlisted)}; {REBUILD_HINT}")
    for name, entry in manifest["files"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise DatasetIntegrityError(f"{path}: the entry of {name} has no sha256 string; {REBUILD_HINT}")
    return manifest


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _check_schema(
    items: pd.DataFrame,
    users: pd.DataFrame,
    images: np.ndarray,
    impressions: pd.DataFrame,
    simulator: UserSimulator,
) -> None:
    """Raise DatasetIntegrityError when the tables do not fit together (wrong columns, sizes, ids)."""
    problems = []
    for name, table, columns in (("items", items, ITEM_COLUMNS), ("users", users, USER_COLUMNS)):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            problems.append(f"{name} lacks columns {missing}")
    n_items, n_users = len(items), len(users)
    if "item_id" in items and not np.array_equal(items["item_id"].to_numpy(), np.arange(n_items)):
        problems.append("items.item_id is not 0..n_items-1 in order")
    if "user_id" in users and not np.array_equal(users["user_id"].to_numpy(), np.arange(n_users)):
        problems.append("users.user_id is not 0..n_users-1 in order")
    if images.shape != (n_items, *IMAGE_SHAPE) or images.dtype != np.uint8:
        problems.append(f"images are {images.dtype} {images.shape}, expected uint8 {(n_items, *IMAGE_SHAPE)}")
    if impressions["user"].max() >= n_users or impressions["item"].max() >= n_items:
        problems.append("impressions refer to users or items that do not exist")
    if (simulator.n_users, simulator.n_items) != (n_users, n_items):
        problems.append(
            f"the simulator has {simulator.n_users} users x {simulator.n_items} items, "
            f"the tables {n_users} x {n_items}"
        )
    if problems:
        raise DatasetIntegrityError(
            "Fashion Shop files do not fit together: " + "; ".join(problems) + f"; {REBUILD_HINT}"
        )
