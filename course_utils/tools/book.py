"""Execute the notebooks headless and build the course book under ``build/book/``.

The course's runner executes each solved notebook in a fresh kernel (fast or full mode) and keeps
the executed copy, with its run time and any error, in ``build/executed/``. The book is then
built from those copies with the ecosystem's book toolchain -- Sphinx, MyST-NB and
sphinx-book-theme, configured in ``book_config/conf.py`` -- into a sidebar with the syllabus
parts, previous/next links, per-page contents, offline search and offline MathJax. The pages are:

- ``index.html``: the syllabus, with each notebook's run time (or failure) and a download link
  for its learner version;
- one page per notebook, its learning objectives in a box and its outputs inline;
- ``results.html``: the outputs (tables, figures) of every cell tagged ``results``, under the
  heading of the section that computed them and with a link to the notebook, without the code.

A failed notebook is marked as failed and the rest still run. A partial build (``only``) merges
with the executed notebooks kept from earlier builds. Ctrl-C or SIGTERM stops the build at once,
kills the running kernel and leaves the previous book in place.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from course_utils.tools.syllabus import LESSONS, PARTS, Lesson

RESULTS_TAG = "results"
CONFIG_DIR = Path(__file__).with_name("book_config")
RUN_METADATA = "course_book"  # notebook metadata key for the run's mode, time and error
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the build; the previous book is left as it was."""


@dataclass
class Executed:
    stem: str
    seconds: float
    error: str | None
    fast: bool
    notebook: nbformat.NotebookNode


# --------------------------------------------------------------------------- selecting notebooks
def select_lessons(repo_root: Path, only: list[str] | None) -> list[Lesson]:
    """The lessons to execute: all with a solved notebook, or those named in ``only``.

    ``only`` takes notebook numbers (``4`` or ``04``) or stems (``04_text_encoders``). An empty
    list or a name that matches no solved notebook is an error that lists the valid numbers.
    """
    available = [
        lesson for lesson in LESSONS if (repo_root / "solutions" / f"{lesson.stem}.ipynb").exists()
    ]
    valid = " ".join(lesson.stem[:2] for lesson in available)
    if only is None:
        return available
    if not only:
        raise ValueError(f"--only needs at least one notebook number (valid: {valid}); got none.")
    by_name = {name: lesson for lesson in available for name in (lesson.stem, lesson.stem[:2])}
    unknown = [name for name in only if _normalise(name) not in by_name]
    if unknown:
        raise ValueError(
            f"--only: no solved notebook {' '.join(unknown)}; valid numbers are {valid}. "
            "Nothing was executed and the book was left as it was."
        )
    chosen = {by_name[_normalise(name)].stem for name in only}
    return [lesson for lesson in available if lesson.stem in chosen]


def _normalise(name: str) -> str:
    return name.zfill(2) if name.isdigit() else name.removesuffix(".ipynb")


# --------------------------------------------------------------------------- executing notebooks
@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`BuildInterrupted` (Ctrl-C already raises KeyboardInterrupt)."""

    def handler(signum: int, frame: object) -> None:
        raise BuildInterrupted(f"interrupted by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kill(kernels: list[subprocess.Popen]) -> None:
    for process in kernels:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _stopped_by_user(kernels: list[subprocess.Popen]) -> bool:
    """Whether the kernel died of SIGINT or SIGTERM (someone stopped it), not of a crash or OOM."""
    return any(process.poll() in (-signal.SIGINT, -signal.SIGTERM) for process in kernels)


def _run_in_worker(client: NotebookClient, kernels: list[subprocess.Popen]) -> BaseException | None:
    """Run ``client.execute()`` in a worker thread; return what it raised, if anything.

    In the main thread nbclient replaces the SIGINT and SIGTERM handlers with its own, which only
    shut the kernel down, so the build moved on to the next notebook. In a worker thread it
    cannot, and Ctrl-C or SIGTERM reach this (main) thread: the kernel is killed and the
    interruption propagates.
    """
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            client.execute()
        except BaseException as exc:  # handed to the main thread
            outcome.append(exc)

    worker = threading.Thread(target=work, name="notebook-runner", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into BuildInterrupted
        _kill(kernels)
        worker.join(30)
        raise
    return outcome[0] if outcome else None


def execute(path: Path, fast: bool, timeout: int = 1800) -> Executed:
    """Run one notebook top to bottom in a fresh kernel, with ``COURSE_FAST`` set as asked.

    A cell error is recorded and returned (the page shows it); Ctrl-C, SIGTERM or a kernel killed
    with SIGINT/SIGTERM raise :class:`BuildInterrupted` (or KeyboardInterrupt) after killing the
    kernel. The kernel talks over local IPC sockets, not unencrypted TCP, where the platform has them.
    """
    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    start = time.perf_counter()
    kernels: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        manager = (
            AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
            if os.name == "posix"
            else AsyncKernelManager(kernel_name="python3")
        )
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=timeout,
            resources={"metadata": {"path": str(path.parent)}},
            on_notebook_start=lambda **_: kernels.append(manager.provisioner.process),
        )
        try:
            raised = _run_in_worker(client, kernels)
        finally:
            _kill(kernels)
            if previous is None:
                os.environ.pop("COURSE_FAST", None)
            else:
                os.environ["COURSE_FAST"] = previous
    if isinstance(raised, CellExecutionError) and raised.ename == "KeyboardInterrupt":
        raise BuildInterrupted(f"{path.stem} was interrupted") from raised
    if isinstance(raised, DeadKernelError) and _stopped_by_user(kernels):
        raise BuildInterrupted(f"the kernel of {path.stem} was stopped") from raised
    if isinstance(raised, CellExecutionError):
        error = f"{raised.ename}: {raised.evalue}"[:2000]
    elif isinstance(raised, DeadKernelError):
        error = f"DeadKernelError: the kernel died (out of memory or a crash): {raised}"[:2000]
    elif raised is not None:  # a timeout or a kernel that did not start: mark this page failed
        error = f"{type(raised).__name__}: {raised}"[:2000]
    else:
        error = None
    seconds = time.perf_counter() - start
    notebook.metadata[RUN_METADATA] = {"seconds": round(seconds, 1), "error": error, "fast": fast}
    return Executed(path.stem, seconds, error, fast, notebook)


def _load_executed(executed_dir: Path) -> dict[str, Executed]:
    runs = {}
    for lesson in LESSONS:
        path = executed_dir / f"{lesson.stem}.ipynb"
        if path.exists():
            notebook = nbformat.read(path, as_version=4)
            run = notebook.metadata.get(RUN_METADATA, {})
            runs[lesson.stem] = Executed(
                lesson.stem, run.get("seconds", 0.0), run.get("error"), run.get("fast", True), notebook
            )
    return runs


def _write_atomically(notebook: nbformat.NotebookNode, path: Path) -> None:
    partial = path.with_suffix(".ipynb.partial")
    nbformat.write(notebook, partial)
    os.replace(partial, path)


# --------------------------------------------------------------------------- book sources
def _status(run: Executed | None) -> str:
    if run is None:
        return "not built"
    mode = "fast" if run.fast else "full"
    if run.error:
        return f"**failed** after {run.seconds:.0f} s ({mode} mode)"
    return f"ran in {run.seconds:.0f} s ({mode} mode)"


def _learner_link(lesson: Lesson, learner_files: set[str], label: str | None = None) -> str:
    if lesson.stem not in learner_files:
        return ""
    return f"{{download}}`{label or lesson.stem + '.ipynb'} <_learner/{lesson.stem}.ipynb>`"


def _index_markdown(runs: dict[str, Executed], learner_files: set[str]) -> str:
    modes = {"fast mode (`COURSE_FAST=1`)" if run.fast else "full mode" for run in runs.values()}
    lines = [
        "# Beyond the Filter Bubble",
        "",
        f"Large pretrained models for diverse recommendations: {len(LESSONS)} notebooks, each executed "
        f"top to bottom in {' and '.join(sorted(modes)) or 'no mode yet'} by `make course`. Open the learner "
        "notebooks (exercises open) with `make lab`, or download one from the table. The "
        "[results page](results.ipynb) gathers the final tables and figures.",
        "",
    ]
    toctrees = []
    for part, part_title in PARTS.items():
        lessons = [lesson for lesson in LESSONS if lesson.part == part]
        lines += [
            f"## Part {part} · {part_title}",
            "",
            "| # | notebook | what you learn | run | learner notebook |",
            "|---|---|---|---|---|",
        ]
        built = []
        for lesson in lessons:
            run = runs.get(lesson.stem)
            title = f"[{lesson.title}]({lesson.stem}.ipynb)" if run else lesson.title
            if run:
                built.append(lesson.stem)
            summary = lesson.summary.replace("|", r"\|")  # a bare | would split the table cell
            lines.append(
                f"| {lesson.stem[:2]} | {title} | {summary} | {_status(run)} "
                f"| {_learner_link(lesson, learner_files, label='download')} |"
            )
        lines.append("")
        if built:
            toctrees += ["```{toctree}", ":hidden:", f":caption: Part {part} · {part_title}", ""]
            toctrees += built + ["```", ""]
    toctrees += ["```{toctree}", ":hidden:", ":caption: Results", "", "results", "```", ""]
    return "\n".join(lines + toctrees)


_OBJECTIVES = re.compile(r"\*\*Learning objectives\*\*\n((?:(?:- |  ).*(?:\n|$))+)")


def _objectives_box(markdown: str) -> str:
    """Put the '**Learning objectives**' list of a notebook's first cell into an admonition box."""
    return _OBJECTIVES.sub(
        lambda match: "```{admonition} Learning objectives\n" + match.group(1).rstrip("\n") + "\n```\n",
        markdown,
        count=1,
    )


def _without_widgets(outputs: list) -> list:
    """Drop widget views (tqdm progress bars): a static page cannot run them and their text is stale."""
    return [output for output in outputs if WIDGET_MIME not in output.get("data", {})]


def _book_page(lesson: Lesson, run: Executed, learner_files: set[str]) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(run.notebook)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = _without_widgets(cell.outputs)
    if not (notebook.cells and notebook.cells[0].source.startswith("# ")):  # every page needs a title
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {lesson.stem[:2]} · {lesson.title}"))
    notebook.cells[0].source = _objectives_box(notebook.cells[0].source)
    download = _learner_link(lesson, learner_files)
    note = f"{_status(run).capitalize()}." + (f" Learner version: {download}." if download else "")
    if run.error:
        note = f"```{{error}}\n{note}\n\n{run.error}\n```"
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(note))
    return notebook


def _results_page(runs: dict[str, Executed]) -> nbformat.NotebookNode:
    """The outputs of every cell tagged ``results``, captioned by its section, without code or stderr."""
    cells = [
        nbformat.v4.new_markdown_cell(
            "# Results\n\nThe tables and figures the notebooks tag as results, each under the heading "
            "of the section that computed it and with a link to the notebook that holds its code."
        )
    ]
    for lesson in LESSONS:
        run = runs.get(lesson.stem)
        if run is None:
            continue
        heading, last_caption = lesson.title, ""
        for cell in run.notebook.cells:
            if cell.cell_type == "markdown":
                headings = re.findall(r"^#+\s+(.+)$", cell.source, flags=re.MULTILINE)
                heading = headings[-1] if headings else heading
            if cell.cell_type != "code" or RESULTS_TAG not in cell.metadata.get("tags", []):
                continue
            outputs = [
                output
                for output in _without_widgets(cell.outputs)
                if not (output.output_type == "stream" and output.name == "stderr")
            ]
            if not outputs:
                continue
            caption = (
                f"## {lesson.stem[:2]} · {heading}\n\nComputed in [{lesson.title}]({lesson.stem}.ipynb)."
            )
            if caption != last_caption:  # consecutive results of one section share its heading
                cells.append(nbformat.v4.new_markdown_cell(caption))
                last_caption = caption
            cells.append(
                nbformat.v4.new_code_cell(
                    cell.source, outputs=outputs, metadata={"tags": ["remove-input"]}
                )
            )
    if len(cells) == 1:
        cells.append(
            nbformat.v4.new_markdown_cell("*No executed notebook has outputs tagged `results` yet.*")
        )
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    return notebook


def write_sources(repo_root: Path, runs: dict[str, Executed], source_dir: Path) -> None:
    """Write the Sphinx sources of the book (index, one notebook per page, results, learner copies)."""
    shutil.rmtree(source_dir, ignore_errors=True)
    (source_dir / "_learner").mkdir(parents=True)
    learner_files = set()
    for lesson in LESSONS:
        learner = repo_root / "notebooks" / f"{lesson.stem}.ipynb"
        if learner.exists():
            shutil.copyfile(learner, source_dir / "_learner" / learner.name)
            learner_files.add(lesson.stem)
    for lesson in LESSONS:
        if lesson.stem in runs:
            page = _book_page(lesson, runs[lesson.stem], learner_files)
            nbformat.write(page, source_dir / f"{lesson.stem}.ipynb")
    nbformat.write(_results_page(runs), source_dir / "results.ipynb")
    (source_dir / "index.md").write_text(_index_markdown(runs, learner_files), encoding="utf-8")


# --------------------------------------------------------------------------- building the HTML
def _sphinx_html(source_dir: Path, out_dir: Path, doctree_dir: Path) -> list[str]:
    """Build the HTML with Sphinx; return its warnings (a broken page is a warning, not a stop)."""
    from sphinx.application import Sphinx
    from sphinx.util.console import nocolor

    nocolor()
    warnings = io.StringIO()
    app = Sphinx(
        srcdir=source_dir,
        confdir=CONFIG_DIR,
        outdir=out_dir,
        doctreedir=doctree_dir,
        buildername="html",
        status=None,
        warning=warnings,
        freshenv=True,
    )
    app.build()
    return [line for line in warnings.getvalue().splitlines() if line.strip()]


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for a moment so a directory swap is never left half done."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _replace_dir(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    with _signals_deferred():
        if target.exists():
            target.rename(old)
        new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def build_book(repo_root: Path, fast: bool, only: list[str] | None = None) -> tuple[Path, list[str]]:
    """Execute the solved notebooks and build the book; return (index path, failed notebooks).

    Raises ValueError for an empty or unknown ``only`` (before anything is touched) and
    :class:`BuildInterrupted` on Ctrl-C or SIGTERM (the previous book stays in place).
    """
    lessons = select_lessons(repo_root, only)
    build = repo_root / "build"
    executed_dir = build / "executed"
    executed_dir.mkdir(parents=True, exist_ok=True)
    runs = _load_executed(executed_dir) if only is not None else {}
    with _stop_on_sigterm():
        for lesson in lessons:
            print(f"▶ {lesson.stem} ...", flush=True)
            run = execute(repo_root / "solutions" / f"{lesson.stem}.ipynb", fast=fast)
            print(f"  {'FAILED: ' + run.error if run.error else 'ok'} ({run.seconds:.0f} s)", flush=True)
            _write_atomically(run.notebook, executed_dir / f"{lesson.stem}.ipynb")
            runs[lesson.stem] = run
        if only is None:  # a full build holds exactly this run's notebooks
            for stale in executed_dir.glob("*.ipynb"):
                if stale.stem not in runs:
                    stale.unlink()
        print("▶ building the HTML (Sphinx + MyST-NB) ...", flush=True)
        write_sources(repo_root, runs, build / "book-src")
        staging = build / ".book-staging"  # MyST-NB also writes a jupyter_execute/ folder next to html/
        shutil.rmtree(staging, ignore_errors=True)
        warnings = _sphinx_html(build / "book-src", staging / "html", staging / "doctrees")
        for warning in warnings:
            print(f"  sphinx: {warning}")
        _replace_dir(staging / "html", build / "book")
        shutil.rmtree(staging, ignore_errors=True)
    return build / "book" / "index.html", [stem for stem, run in runs.items() if run.error]


def main(fast: bool, only: list[str] | None, repo_root: Path | None = None) -> int:
    """``python -m course_utils book``: build the book, print where it is; rc 1 if a notebook failed,
    2 for a bad ``--only``, 130 when interrupted."""
    from course_utils.config import REPO_ROOT

    start = time.perf_counter()
    try:
        index, failed = build_book(Path(repo_root or REPO_ROOT), fast=fast, only=only)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    except KeyboardInterrupt as exc:
        print(f"\n⏹ interrupted ({exc or 'Ctrl-C'}): the previous book was left in place.")
        return 130
    print(f"\n📘 Course book ({time.perf_counter() - start:.0f} s): {index}")
    if failed:
        print(f"❌ these notebooks failed: {', '.join(failed)} (their pages show the error)")
    return 1 if failed else 0
