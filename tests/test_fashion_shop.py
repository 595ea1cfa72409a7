"""Tests for the shipped Fashion Shop, its loader (checksums, schema) and its build (determinism)."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from course_utils.config import DATASETS_DIR
from course_utils.data.fashion_shop import DatasetIntegrityError, load_fashion_shop, verify_fashion_shop
from course_utils.data.simulate import UserSimulator

SHOP_DIR = DATASETS_DIR / "fashion_shop"
FASHION_MNIST_AVAILABLE = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file()


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_script = _load_module("fashion_shop_build", SHOP_DIR / "build.py")
catalog = _load_module("fashion_shop_catalog", SHOP_DIR / "catalog.py")


@pytest.fixture(scope="module")
def shop():
    return load_fashion_shop()


# -- shapes and schema ------------------------------------------------------------------------------
def test_tables_and_images_have_the_documented_shapes(shop):
    assert shop.n_items == 4000 and shop.n_users == 1000
    assert shop.images.shape == (4000, 28, 28, 3) and shop.images.dtype == np.uint8
    assert list(shop.impressions.columns) == ["user", "item", "position", "timestamp", "clicked"]
    assert shop.impressions["position"].between(0, 9).all()
    assert shop.impressions["clicked"].dtype == bool
    for column in (
        "category",
        "colour",
        "material",
        "style",
        "season",
        "brand",
        "price",
        "title",
        "description",
    ):
        assert shop.items[column].notna().all(), column
    assert shop.category_names == list(catalog.CATEGORIES)
    assert (shop.items["price"] > 0).all()
    assert len(shop.texts) == shop.n_items


def test_every_category_and_colour_is_present_with_a_long_tail(shop):
    counts = shop.items["category"].value_counts()
    assert len(counts) == 10 and counts.min() >= 100 and counts.max() >= 2 * counts.min()
    assert set(shop.items["colour"]) == set(catalog.PALETTE)


# -- the modality design ------------------------------------------------------------------------------
def test_text_never_names_a_colour(shop):
    colour_words = re.compile(r"\b(" + "|".join(catalog.PALETTE) + r"|black|gray|cream|navy|golden)\b", re.I)
    offending = [text for text in shop.texts if colour_words.search(text)]
    assert offending == []


def test_text_names_material_and_brand(shop):
    texts = [text.lower() for text in shop.texts]
    assert all(row.material in text for row, text in zip(shop.items.itertuples(), texts, strict=True))
    assert all(row.brand.lower() in text for row, text in zip(shop.items.itertuples(), texts, strict=True))


def test_image_shows_the_colour(shop):
    """The brightest pixel of each image is nearest to the item's palette colour."""
    pixels = shop.images.reshape(shop.n_items, -1, 3).astype(float)
    brightest = pixels[np.arange(shop.n_items), pixels.sum(axis=2).argmax(axis=1)]  # (n_items, 3)
    palette = np.array(list(catalog.PALETTE.values()), dtype=float)
    nearest = np.array(list(catalog.PALETTE))[((brightest[:, None] - palette[None]) ** 2).sum(-1).argmin(1)]
    assert (nearest == shop.items["colour"].to_numpy()).mean() > 0.98


def test_text_has_lexical_variety(shop):
    assert shop.items["title"].nunique() > 0.9 * shop.n_items
    assert shop.items["description"].nunique() > 0.9 * shop.n_items
    t_shirts = shop.items.loc[shop.items["category"] == "T-shirt/top", "title"].str.lower()
    for noun in catalog.NOUNS["T-shirt/top"]:
        assert t_shirts.str.contains(rf"\b{re.escape(noun.lower())}\b").any(), noun


# -- logs, split and simulator -------------------------------------------------------------------------
def test_split_is_temporal_per_user_and_disjoint(shop):
    data = shop.interactions
    events = data.events
    last = events.groupby(["user", "split"], observed=True)["timestamp"].agg(["min", "max"]).unstack("split")
    assert (last[("max", "train")] <= last[("min", "valid")]).all()
    assert (last[("max", "valid")] <= last[("min", "test")]).all()
    assert data.train.multiply(data.test).nnz == 0 and data.train.multiply(data.valid).nnz == 0
    assert len(data.evaluation_users("test")) == shop.n_users  # every user has >= 5 clicks
    clicks = shop.impressions[shop.impressions["clicked"]]
    assert data.train.nnz + data.valid.nnz + data.test.nnz == len(clicks)
    user = 17
    user_clicks = clicks[clicks["user"] == user].sort_values("timestamp")["item"].to_numpy()
    assert data.sequences()[user].tolist() == user_clicks.tolist()


def test_manifest_statistics_match_the_data(shop):
    stats = shop.manifest["statistics"]
    clicks_per_user = np.bincount(
        shop.impressions.loc[shop.impressions["clicked"], "user"], minlength=shop.n_users
    )
    assert stats["clicks_per_user"]["min"] == clicks_per_user.min() >= 5
    assert stats["clicks_per_user"]["median"] == np.median(clicks_per_user)
    assert stats["ctr"] == round(float(shop.impressions["clicked"].mean()), 4)
    exposure = np.bincount(shop.impressions["item"], minlength=shop.n_items)
    assert stats["exposure_gini"] == round(build_script.gini(exposure), 4) > 0.5  # popularity-biased logs


def test_shipped_simulator_explains_the_logged_click_rate(shop):
    logs = shop.impressions.sort_values(["user", "timestamp", "position"])  # sessions never overlap
    slates = logs["item"].to_numpy().reshape(-1, 10)  # one row per session, best position first
    users = logs["user"].to_numpy()[::10]
    expected_ctr = shop.simulator.click_probabilities(users, slates).mean()
    assert abs(expected_ctr - logs["clicked"].mean()) < 0.005


def test_the_simulator_is_reachable_from_the_shop(shop):
    assert UserSimulator.from_shop(shop) is shop.simulator
    assert (shop.simulator.n_users, shop.simulator.n_items) == (shop.n_users, shop.n_items)
    with pytest.raises(TypeError, match="load_fashion_shop"):
        UserSimulator.from_shop(object())


def test_gini_is_hand_computed():
    assert build_script.gini(np.array([1, 1, 1, 1])) == 0.0
    assert build_script.gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n - 1) / n


# -- integrity checks -------------------------------------------------------------------------------------
@pytest.fixture
def shop_copy(tmp_path):
    copy = tmp_path / "fashion_shop"
    copy.mkdir()
    for name in [*json.loads((SHOP_DIR / "MANIFEST.json").read_text())["files"], "MANIFEST.json"]:
        shutil.copy(SHOP_DIR / name, copy / name)
    return copy


def test_verification_passes_on_the_shipped_files():
    assert "verified" in verify_fashion_shop()


def test_a_corrupted_file_is_caught(shop_copy):
    path = shop_copy / "items.csv.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetIntegrityError, match=r"items\.csv\.gz is corrupted.*build\.py"):
        load_fashion_shop(shop_copy)


def test_a_missing_file_or_manifest_is_caught(shop_copy):
    (shop_copy / "images.npz").unlink()
    with pytest.raises(DatasetIntegrityError, match=r"images\.npz is missing"):
        verify_fashion_shop(shop_copy)
    (shop_copy / "MANIFEST.json").unlink()
    with pytest.raises(DatasetIntegrityError, match="no MANIFEST.json"):
        load_fashion_shop(shop_copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda manifest: manifest["files"].pop("simulator.npz"), r"no checksum for simulator\.npz"),
        (lambda manifest: manifest["files"].update({"users.csv.gz": "abc"}), "users.csv.gz has no sha256"),
        (lambda manifest: manifest.update({"files": []}), "lists no files"),
    ],
)
def test_a_manifest_that_leaves_a_file_unverified_is_refused(shop_copy, edit, message):
    path = shop_copy / "MANIFEST.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetIntegrityError, match=message):
        load_fashion_shop(shop_copy)


def test_a_manifest_that_is_not_a_table_is_refused(shop_copy):
    (shop_copy / "MANIFEST.json").write_text("[1, 2]")
    with pytest.raises(DatasetIntegrityError, match="lists no files"):
        verify_fashion_shop(shop_copy)


# -- the build ------------------------------------------------------------------------------------------
@pytest.mark.skipif(not FASHION_MNIST_AVAILABLE, reason="needs `apt-get install dataset-fashion-mnist`")
def test_tiny_rebuild_is_byte_identical_for_a_seed_and_loads(tmp_path):
    tiny = {"n_items": 200, "n_users": 30}  # tiny config for test speed
    first = build_script.build(tmp_path / "a", seed=7, **tiny)
    second = build_script.build(tmp_path / "b", seed=7, **tiny)
    other = build_script.build(tmp_path / "c", seed=8, **tiny)
    assert first["files"] == second["files"]
    for name in first["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["files"]["items.csv.gz"]["sha256"] != other["files"]["items.csv.gz"]["sha256"]
    small = load_fashion_shop(tmp_path / "a")
    assert small.n_items == 200 and small.n_users == 30 and small.images.shape == (200, 28, 28, 3)
    assert not list((tmp_path / "a").glob(".build-*"))  # no staging folder left behind


def test_build_reports_a_missing_source_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        build_script.build(tmp_path / "out", source=tmp_path)


# -- sub-catalogs -----------------------------------------------------------------------------------
def test_subset_is_a_consistent_renumbered_shop(shop):
    kept = np.array([7, 3, 3999, 120, 42])  # any order: item j of the subset is item kept[j]
    small = shop.subset(kept)
    assert small.n_items == 5 and small.n_users == shop.n_users
    assert small.items["item_id"].tolist() == [0, 1, 2, 3, 4]
    assert small.items["title"].tolist() == shop.items["title"].iloc[kept].tolist()
    assert small.texts == [shop.texts[i] for i in kept]
    np.testing.assert_array_equal(small.images, shop.images[kept])
    np.testing.assert_allclose(small.simulator.relevance([0, 1]), shop.simulator.relevance([0, 1])[:, kept])
    # every logged impression of a kept item is there, renumbered; nothing else is
    full_logs = shop.impressions[shop.impressions["item"].isin(kept)]
    assert len(small.impressions) == len(full_logs)
    np.testing.assert_array_equal(kept[small.impressions["item"]], full_logs["item"])
    assert small.users["clicks"].sum() == small.impressions["clicked"].sum() > 0
    assert small.users["impressions"].sum() == len(small.impressions)
    assert small.manifest["subset"] == {"n_items": 5, "of_n_items": shop.n_items}


def test_subset_matches_the_notebooks_hand_built_copy(shop):
    """Notebooks 08/09 used to rebuild the fast-mode shop by hand; the method gives the same clicks."""
    from course_utils.data.interactions import Interactions

    kept = np.sort(np.random.default_rng(0).choice(shop.n_items, size=300, replace=False))
    new_id = np.full(shop.n_items, -1)
    new_id[kept] = np.arange(300)
    logs = shop.impressions[new_id[shop.impressions.item] >= 0].assign(item=lambda f: new_id[f.item])
    clicks = logs.loc[logs.clicked, ["user", "item", "timestamp"]]
    by_hand = Interactions.from_events(clicks, shop.n_users, 300)
    small = shop.subset(kept)
    for split in ("train", "valid", "test"):
        assert (getattr(small.interactions, split) != getattr(by_hand, split)).nnz == 0
    assert small.impressions.equals(logs.reset_index(drop=True))


@pytest.mark.parametrize(
    ("item_ids", "error", "message"),
    [
        ([], ValueError, "non-empty"),
        ([1, 1], ValueError, "repeated"),
        ([0, 4000], ValueError, r"0\.\.3999"),
        ([-1], ValueError, r"0\.\.3999"),
        ([0.0, 1.0], TypeError, "integer item ids"),
        ([True, False], TypeError, "flatnonzero"),
    ],
)
def test_subset_refuses_bad_item_ids(shop, item_ids, error, message):
    with pytest.raises(error, match=message):
        shop.subset(item_ids)
