"""The course book: the runner executes notebooks, Sphinx + MyST-NB build an offline book with a
sidebar, search, an index linking every notebook and a results page; --only, interruptions and the
Makefile's FAST switch behave; JupyterLab's settings overrides turn off its network prompts."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course_utils.tools.book import build_book, select_lessons

REPO = Path(__file__).resolve().parents[1]
ELBO = r"\log p_\theta(x) \ge \mathbb{E}_{q_\phi(z \mid x)}[\log p_\theta(x \mid z)]"


def _write(path: Path, *cells) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), path)


def _tiny_course(root: Path) -> None:
    """Notebook 00 (math, objectives, a results table with a progress message), a failing 01."""
    welcome = (
        nbformat.v4.new_markdown_cell(
            "# 00 · Welcome\n\nIntro.\n\n**Learning objectives**\n- read the ELBO;\n"
            "- find the\n  results.\n\n**Prerequisites**: none."
        ),
        nbformat.v4.new_markdown_cell(f"## 1. The final table\n\n$$\n{ELBO}\n$$"),
        nbformat.v4.new_code_cell("import os\nprint('fast =', os.environ['COURSE_FAST'])"),
        nbformat.v4.new_code_cell(
            "import sys\nprint('BPR-MF: 0%', file=sys.stderr)\nimport pandas as pd\n"
            "pd.DataFrame({'recall_at_10': [0.4242]})",
            metadata={"tags": ["results"]},
        ),
    )
    _write(root / "solutions" / "00_welcome.ipynb", *welcome)
    _write(root / "notebooks" / "00_welcome.ipynb", *welcome)
    _write(root / "solutions" / "01_autoencoders_and_vaes.ipynb", nbformat.v4.new_code_cell("1 / 0"))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    _tiny_course(root)
    index, failed = build_book(root, fast=True)
    return root, index, failed


class _Links(HTMLParser):
    """Every (tag, attribute, value) of a page's href/src attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, name, value or "") for name, value in attrs if name in ("href", "src")]


def _links(page: Path) -> list[tuple[str, str, str]]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


def test_book_runs_notebooks_and_marks_the_failed_one(course):
    root, index, failed = course
    book = root / "build" / "book"
    assert index == book / "index.html"
    assert failed == ["01_autoencoders_and_vaes"]
    assert "fast = 1" in (book / "00_welcome.html").read_text()
    failed_page = (book / "01_autoencoders_and_vaes.html").read_text()
    assert "ZeroDivisionError" in failed_page and "failed" in failed_page
    index_html = index.read_text()
    assert re.search(r"ran in \d+ s \(fast mode\)", index_html)
    assert re.search(r"failed</strong> after \d+ s", index_html)
    assert "not built" in index_html  # lessons without a notebook are listed, not linked
    executed = nbformat.read(root / "build" / "executed" / "00_welcome.ipynb", as_version=4)
    assert executed.metadata["course_book"]["fast"] is True


def test_index_links_every_notebook_the_results_page_and_the_learner_downloads(course):
    root, index, _ = course
    hrefs = {value for tag, name, value in _links(index) if tag == "a"}
    assert {"00_welcome.html", "01_autoencoders_and_vaes.html", "results.html"} <= hrefs
    downloads = [href for href in hrefs if href.startswith("_downloads/")]
    assert len(downloads) == 1 and downloads[0].endswith("/00_welcome.ipynb")
    assert (root / "build" / "book" / downloads[0]).read_bytes() == (
        root / "notebooks/00_welcome.ipynb"
    ).read_bytes()


def test_book_has_sidebar_parts_prev_next_page_contents_search_and_objectives(course):
    root, index, _ = course
    book = root / "build" / "book"
    page = (book / "00_welcome.html").read_text()
    assert "Part 0 · Orientation" in page and "Part I · The building blocks of large models" in page
    assert 'class="left-prev"' in page and 'class="right-next"' in page
    assert "bd-toc" in page and "1. The final table" in page  # the per-page contents
    assert "admonition-learning-objectives" in page and "read the ELBO" in page
    assert (book / "search.html").exists() and "welcome" in (book / "searchindex.js").read_text().lower()


def test_math_is_served_from_the_book_itself(course):
    root, _, _ = course
    book = root / "build" / "book"
    scripts = [value for tag, name, value in _links(book / "00_welcome.html") if tag == "script"]
    assert "_static/mathjax/tex-chtml.js" in scripts
    assert (book / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert r"\log p_\theta(x)" in (book / "00_welcome.html").read_text()


def test_no_page_loads_a_script_stylesheet_or_font_from_the_internet(course):
    root, _, _ = course
    book = root / "build" / "book"
    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    offenders = [
        f"{page.name}: <{tag} {name}={value}>"
        for page in book.rglob("*.html")
        for tag, name, value in _links(page)
        if tag in ("script", "link", "img", "iframe") and remote.match(value)
    ]
    css_remote = re.compile(r"(url\(\s*['\"]?|@import\s+['\"])(https?:)?//", re.IGNORECASE)
    offenders += [
        str(css.relative_to(book)) for css in book.rglob("*.css") if css_remote.search(css.read_text())
    ]
    assert offenders == []


def test_results_page_shows_tables_with_captions_and_links_not_code_or_progress_bars(course):
    root, _, _ = course
    results = (root / "build" / "book" / "results.html").read_text()
    assert "0.4242" in results and "<table" in results
    assert "00 · 1. The final table" in results
    assert 'href="00_welcome.html"' in results
    assert "pd.DataFrame" not in results and "BPR-MF" not in results


def test_only_rejects_unknown_or_missing_numbers_before_touching_the_book(course):
    root, index, _ = course
    before = index.read_bytes()
    with pytest.raises(ValueError, match=r"no solved notebook 99; valid numbers are 00 01"):
        build_book(root, fast=True, only=["99"])
    with pytest.raises(ValueError, match="at least one notebook number"):
        build_book(root, fast=True, only=[])
    assert index.read_bytes() == before
    assert [lesson.stem for lesson in select_lessons(root, ["1"])] == ["01_autoencoders_and_vaes"]


def test_partial_rebuild_keeps_the_other_pages_rows_and_results(course, tmp_path, capfd):
    root = tmp_path / "course"
    shutil.copytree(course[0], root)
    _write(
        root / "solutions" / "01_autoencoders_and_vaes.ipynb",
        nbformat.v4.new_code_cell("print('fixed')"),
    )

    index, failed = build_book(root, fast=True, only=["01"])

    assert failed == []
    index_html = index.read_text()
    assert (
        'href="00_welcome.html"' in index_html and 'href="01_autoencoders_and_vaes.html"' in index_html
    )
    assert "fixed" in (root / "build" / "book" / "01_autoencoders_and_vaes.html").read_text()
    assert "0.4242" in (root / "build" / "book" / "results.html").read_text()
    assert "without encryption" not in capfd.readouterr().err  # kernels talk over IPC, not plain TCP


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM and IPC kernels are POSIX")
@pytest.mark.parametrize(
    ("target", "signum"),
    [("builder", signal.SIGTERM), ("builder", signal.SIGINT), ("kernel", signal.SIGTERM)],
)
def test_a_stop_signal_ends_the_build_kills_the_kernel_and_keeps_the_previous_book(
    course, tmp_path, target, signum
):
    root = tmp_path / "course"
    shutil.copytree(course[0], root)
    pid_file = tmp_path / "kernel.pid"
    _write(
        root / "solutions" / "00_welcome.ipynb",
        nbformat.v4.new_code_cell(
            f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))"
        ),
        nbformat.v4.new_code_cell("time.sleep(120)"),
    )
    index_before = (root / "build" / "book" / "index.html").read_bytes()
    executed_before = (root / "build" / "executed" / "00_welcome.ipynb").read_bytes()
    # Ctrl-C as in a terminal: a runner that starts the tests in the background (a shell's `&`
    # without job control) hands SIGINT down ignored, and Python then never raises KeyboardInterrupt.
    builder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            f"from course_utils.tools.book import main; exit(main(True, None, {str(root)!r}))",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and builder.poll() is None, "the kernel never started"
        time.sleep(0.2)
    kernel_pid = int(pid_file.read_text())
    os.kill(builder.pid if target == "builder" else kernel_pid, signum)
    output, _ = builder.communicate(timeout=60)

    assert builder.returncode == 130, output
    assert "interrupted" in output and "01_autoencoders" not in output  # stopped, did not move on
    with pytest.raises(ProcessLookupError):
        os.kill(kernel_pid, 0)
    assert (root / "build" / "book" / "index.html").read_bytes() == index_before
    assert (root / "build" / "executed" / "00_welcome.ipynb").read_bytes() == executed_before


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    ("fast", "expected"), [("0", False), ("", False), ("no", False), ("1", True), ("yes", True)]
)
def test_make_course_fast_switch(fast, expected):
    dry_run = subprocess.run(
        ["make", "-n", "-C", str(REPO), "VENV=/nonexistent-venv", "course", f"FAST={fast}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    command = next(line for line in dry_run.splitlines() if "course_utils book" in line)
    assert ("--fast" in command) is expected


def test_jupyterlab_overrides_turn_off_news_and_update_checks():
    overrides = json.loads((REPO / "course_utils" / "tools" / "jupyterlab_overrides.json").read_text())
    settings = overrides["@jupyterlab/apputils-extension:notification"]
    assert settings == {"fetchNews": "false", "checkForUpdates": False}
    schema_path = Path(
        sys.prefix, "share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"
    )
    schema = json.loads(schema_path.read_text())["properties"]
    assert "false" in [choice["const"] for choice in schema["fetchNews"]["oneOf"]]
    assert schema["checkForUpdates"]["type"] == "boolean"
