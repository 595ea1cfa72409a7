"""Tests for course_utils.data.movielens: offline loading, both file layouts, the error paths."""

import importlib.util
import io
import json
import socket
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from course_utils import config
from course_utils.checksums import file_sha256
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


def tidy_cache_folder(cache_root):
    (folder,) = (cache_root / "movielens-100k").iterdir()
    return folder


def assert_same_tables(loaded, expected):
    assert loaded.ratings.equals(expected.ratings) and loaded.movies.equals(expected.movies)
    assert loaded.users.equals(expected.users) and loaded.texts == expected.texts
    np.testing.assert_array_equal(loaded.interactions.test.indices, expected.interactions.test.indices)


@needs_recbole
def test_second_load_comes_from_the_cache(private_folders):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy cache is silent
        first = load_movielens_100k()  # converted from the raw files
        folder = tidy_cache_folder(private_folders / "cache")
        assert sorted(p.name for p in folder.iterdir()) == [
            "checksums.json",
            "movies.csv.gz",
            "ratings.csv.gz",
            "users.csv.gz",
        ]
        second = load_movielens_100k()  # read back from the cache: the same tables, dtypes included
    assert_same_tables(second, first)


def rewrite_checksums(folder):
    """Re-record the files' sha256, as if a tampered cache had been written by the loader itself."""
    checksums = {name: file_sha256(folder / name) for name in movielens.TIDY_FILES}
    (folder / movielens.CHECKSUMS_FILE).write_text(json.dumps(checksums))


def one_row_ratings(folder):
    pd.DataFrame({"user": [0], "item": [0], "rating": [5], "timestamp": [1]}).to_csv(
        folder / "ratings.csv.gz", index=False
    )


@needs_recbole
@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("truncate", "ratings.csv.gz differs"),
        ("one_row", "ratings.csv.gz differs"),
        ("one_row_with_its_checksum", "1 ratings instead of 100000"),
        ("delete_file", "No such file"),
        ("empty_folder", "No such file"),
    ],
)
def test_a_damaged_cache_is_detected_and_rebuilt(ml, private_folders, damage, problem):
    load_movielens_100k()
    folder = tidy_cache_folder(private_folders / "cache")
    ratings_file = folder / "ratings.csv.gz"
    if damage == "truncate":
        ratings_file.write_bytes(ratings_file.read_bytes()[:1000])
    elif damage.startswith("one_row"):
        one_row_ratings(folder)
        if damage == "one_row_with_its_checksum":
            rewrite_checksums(folder)
    elif damage == "delete_file":
        ratings_file.unlink()
    else:
        for path in folder.iterdir():
            path.unlink()
    with pytest.warns(UserWarning, match=f"cache at .* is damaged or incomplete .*{problem}.*rebuilding"):
        rebuilt = load_movielens_100k()
    assert_same_tables(rebuilt, ml)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache is healthy again
        assert_same_tables(load_movielens_100k(), ml)


@needs_recbole
def test_the_cache_key_covers_the_reader_version(private_folders, monkeypatch):
    load_movielens_100k()
    before = tidy_cache_folder(private_folders / "cache").name
    monkeypatch.setattr(movielens, "READER_VERSION", movielens.READER_VERSION + 1)
    load_movielens_100k()
    folders = {p.name for p in (private_folders / "cache" / "movielens-100k").iterdir()}
    assert len(folders) == 2 and before in folders


@needs_recbole
def test_an_unwritable_cache_still_loads_from_the_raw_files(ml, tmp_path, monkeypatch):
    """COURSE_CACHE_DIR under a regular file cannot be created, even by root."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(config, "_warned_unwritable", set())
    unwritable = "could not write the MovieLens-100k cache.*COURSE_CACHE_DIR"
    with pytest.warns(UserWarning, match=unwritable) as caught:
        loaded = load_movielens_100k()
    assert str(blocker / "cache") in str(caught[0].message)
    assert_same_tables(loaded, ml)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per session, not on every load
        assert_same_tables(load_movielens_100k(), ml)


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


@pytest.fixture
def download_only(monkeypatch, private_folders):
    """No local or recbole copy, and no proxy: ``download=True`` must go to GROUPLENS_URL itself."""
    monkeypatch.setattr(movielens, "_recbole_folder", lambda: None)
    for variable in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    return private_folders / "data"


@contextmanager
def trickling_server(seconds: float = 5.0):
    """An HTTP server on 127.0.0.1 that promises 5 MB, then sends one byte every 50 ms."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:  # closed before anyone connected
            return
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")
            stop = time.monotonic() + seconds
            try:
                while time.monotonic() < stop:
                    connection.sendall(b"x")
                    time.sleep(0.05)
            except OSError:  # the client gave up
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/ml-100k.zip"
    finally:
        listener.close()
        thread.join(timeout=seconds + 1)


def assert_offline_alternatives(message: str) -> None:
    assert "COURSE_DATA_DIR" in message and "pip install --no-deps recbole==1.2.1" in message


def test_a_trickling_download_stops_at_the_deadline(download_only, monkeypatch):
    monkeypatch.setattr(movielens, "DOWNLOAD_DEADLINE_S", 1.0)
    with trickling_server() as url:
        monkeypatch.setattr(movielens, "GROUPLENS_URL", url)
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="did not finish within 1 s") as error:
            load_movielens_100k(download=True)
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0
    assert_offline_alternatives(str(error.value))
    assert list(download_only.iterdir()) == []  # the staging folder is gone


def test_a_refused_connection_fails_at_once_with_the_offline_options(download_only, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]  # free once the probe is closed: nothing listens there
    monkeypatch.setattr(movielens, "GROUPLENS_URL", f"http://127.0.0.1:{closed_port}/ml-100k.zip")
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="could not download MovieLens-100k") as error:
        load_movielens_100k(download=True)
    assert time.monotonic() - started < 2.0
    assert_offline_alternatives(str(error.value))
    assert list(download_only.iterdir()) == []


def test_an_unresolvable_host_names_the_offline_options(download_only, monkeypatch):
    def no_dns(*args, **kwargs):  # what an offline machine's resolver answers, without asking one
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(ConnectionError, match="name resolution") as error:
        load_movielens_100k(download=True)
    assert_offline_alternatives(str(error.value))
    assert list(download_only.iterdir()) == []


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
