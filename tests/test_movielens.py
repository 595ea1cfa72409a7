"""Tests for course_utils.data.movielens: offline loading, both file layouts, the error paths."""

import importlib.util
import io

import numpy as np
import pandas as pd
import pytest

from course_utils.data import movielens
from course_utils.data.movielens import GENRES, load_movielens_100k, locate_movielens_100k

needs_recbole = pytest.mark.skipif(
    importlib.util.find_spec("recbole") is None, reason="needs `pip install --no-deps recbole==1.2.1`"
)


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """Every test gets its own empty data and cache folders."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        patch.setenv("COURSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return load_movielens_100k()


@needs_recbole
def test_loads_offline_from_the_recbole_copy(ml):
    assert ml.source.kind == "recbole package" and ml.source.layout == "atomic"
    assert len(ml.ratings) == 100_000 and ml.n_users == 943 and ml.n_items == 1682
    assert list(ml.ratings.columns) == ["user", "item", "rating", "timestamp"]
    toy_story = ml.movies.iloc[0]
    assert (toy_story["movie_id"], toy_story["title"], toy_story["year"]) == (1, "Toy Story", 1995)
    assert toy_story["genres"] == ["Animation", "Children's", "Comedy"]
    assert ml.movies.loc[266, "title"] == "unknown" and ml.movies["year"].isna().sum() == 1
    assert set(g for genres in ml.movies["genres"] for g in genres) <= set(GENRES)
    assert ml.texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."


@needs_recbole
def test_implicit_feedback_is_rating_at_least_four_with_a_temporal_split(ml):
    data = ml.interactions
    positives = ml.ratings[ml.ratings["rating"] >= 4]
    assert data.train.nnz + data.valid.nnz + data.test.nnz == len(positives)
    assert data.train.shape == (943, 1682)
    times = (
        data.events.groupby(["user", "split"], observed=True)["timestamp"]
        .agg(["min", "max"])
        .unstack("split")
    )
    both = times.dropna()
    assert (both[("max", "train")] <= both[("min", "test")]).all()


@needs_recbole
def test_second_load_comes_from_the_cache(private_folders):
    first = load_movielens_100k()
    cached = list((private_folders / "cache" / "movielens-100k").iterdir())
    assert len(cached) == 1 and sorted(p.name for p in cached[0].iterdir()) == [
        "movies.csv.gz",
        "ratings.csv.gz",
        "users.csv.gz",
    ]
    second = load_movielens_100k()
    assert first.ratings.equals(second.ratings) and first.movies.equals(second.movies)


def write_official_copy(ml, folder, n_ratings=None):
    """Write ``ml`` in the GroupLens layout (u.data, u.item, u.user) into ``folder``."""
    folder.mkdir(parents=True)
    ratings = ml.ratings if n_ratings is None else ml.ratings.iloc[:n_ratings]
    lines = [f"{r.user + 1}\t{r.item + 1}\t{r.rating}\t{r.timestamp}" for r in ratings.itertuples()]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    item_lines = []
    for movie in ml.movies.itertuples():
        has_year = not pd.isna(movie.year)
        title = f"{movie.title} ({movie.year})" if has_year else movie.title
        release = f"01-Jan-{movie.year}" if has_year else ""
        flags = "|".join("1" if g in movie.genres else "0" for g in GENRES)
        item_lines.append(f"{movie.movie_id}|{title}|{release}||http://example.invalid|{flags}")
    (folder / "u.item").write_bytes(("\n".join(item_lines) + "\n").encode("latin-1"))
    user_lines = [
        f"{u.user_id}|{u.age}|{u.gender}|{u.occupation}|{u.zip_code}" for u in ml.users.itertuples()
    ]
    (folder / "u.user").write_text("\n".join(user_lines) + "\n")


@needs_recbole
def test_a_local_official_copy_wins_and_reads_the_same(ml, private_folders):
    write_official_copy(ml, private_folders / "data" / "ml-100k")
    local = load_movielens_100k()
    assert local.source.kind == "local copy" and local.source.layout == "official"
    assert local.ratings.equals(ml.ratings)
    assert local.movies[["item", "movie_id", "title"]].equals(ml.movies[["item", "movie_id", "title"]])
    assert local.movies["year"].equals(ml.movies["year"])
    assert local.movies["genres"].tolist() == ml.movies["genres"].tolist()
    assert local.users.equals(ml.users)
    np.testing.assert_array_equal(local.interactions.test.indices, ml.interactions.test.indices)


@needs_recbole
def test_a_truncated_copy_is_rejected(ml, private_folders):
    write_official_copy(ml, private_folders / "data" / "ml-100k", n_ratings=99_000)
    with pytest.raises(ValueError, match="99000 ratings instead of 100000"):
        load_movielens_100k()


def test_nothing_found_names_all_three_options(monkeypatch):
    monkeypatch.setattr(movielens, "_recbole_folder", lambda: None)
    with pytest.raises(FileNotFoundError) as error:
        locate_movielens_100k()
    message = str(error.value)
    assert "ml-100k" in message and "COURSE_DATA_DIR" in message
    assert "pip install --no-deps recbole==1.2.1" in message
    assert "download=True" in message


def test_download_with_a_wrong_checksum_keeps_nothing(monkeypatch, private_folders):
    monkeypatch.setattr(movielens, "_recbole_folder", lambda: None)
    monkeypatch.setattr(movielens.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not the zip"))
    with pytest.raises(ValueError, match="MD5"):
        load_movielens_100k(download=True)
    assert list((private_folders / "data").iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        (
            "Land Before Time III: The Time of the Great Giving (1995) (V)",
            "Land Before Time III: The Time of the Great Giving",
            1995,
        ),
        ("Usual Suspects, The (1995)", "Usual Suspects, The", 1995),
        ("unknown", "unknown", None),
    ],
)
def test_title_and_year_are_split(raw, title, year):
    titles, years = movielens._split_title_year(pd.Series([raw]))
    assert titles[0] == title
    assert pd.isna(years[0]) if year is None else years[0] == year
