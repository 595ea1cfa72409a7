"""Execute the notebooks headless and build the HTML course book under ``build/``.

The book has an index (the syllabus, with a link to each executed notebook and how long it
took), one page per notebook with its outputs and figures inline, and a results page that
gathers every cell tagged ``results`` (the capstone's tables and figures).
"""

from __future__ import annotations

import html
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from course_utils.tools.syllabus import LESSONS, PARTS

RESULTS_TAG = "results"


@dataclass
class Executed:
    stem: str
    seconds: float
    error: str | None
    notebook: nbformat.NotebookNode | None


def execute(path: Path, fast: bool, timeout: int = 1800) -> Executed:
    """Run one notebook top to bottom in a fresh kernel (with ``COURSE_FAST`` set as asked)."""
    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    start = time.perf_counter()
    try:
        NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        error = None
    except Exception as exc:  # keep building the other pages; the index shows the failure
        error = f"{type(exc).__name__}: {exc}"[:2000]
        traceback.print_exc()
    finally:
        if previous is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = previous
    return Executed(path.stem, time.perf_counter() - start, error, notebook)


def _page(body: str, title: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
        line-height: 1.5; }}
 table {{ border-collapse: collapse; width: 100%; }}
 td, th {{ border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }}
 .failed {{ color: #b00020; }} .ok {{ color: #1b7f3b; }} code {{ background: #f4f4f4; padding: 0 .2rem; }}
</style></head><body>
{body}
</body></html>
"""


def _index(results: dict[str, Executed], fast: bool) -> str:
    mode = "fast mode (COURSE_FAST=1)" if fast else "full mode"
    rows = []
    for part, part_title in PARTS.items():
        rows.append(f'<tr><th colspan="4">Part {part} &mdash; {html.escape(part_title)}</th></tr>')
        for lesson in (lesson for lesson in LESSONS if lesson.part == part):
            run = results.get(lesson.stem)
            if run is None:
                status, link = "not built", html.escape(lesson.title)
            else:
                link = f'<a href="{lesson.stem}.html">{html.escape(lesson.title)}</a>'
                status = (
                    f'<span class="failed">failed after {run.seconds:.0f} s</span>'
                    if run.error
                    else f'<span class="ok">ran in {run.seconds:.0f} s</span>'
                )
            rows.append(
                f"<tr><td>{lesson.stem[:2]}</td><td>{link}</td>"
                f"<td>{html.escape(lesson.summary)}</td><td>{status}</td></tr>"
            )
    return _page(
        "<h1>Beyond the Filter Bubble</h1><p>Large pretrained models for diverse recommendations. "
        f"Every page below was executed top to bottom in {mode} on {time.strftime('%Y-%m-%d')}.</p>"
        '<p><a href="results.html">Results page</a>: the capstone tables and figures.</p>'
        "<table><tr><th>#</th><th>Notebook</th><th>What you learn</th><th>Run</th></tr>"
        f"{''.join(rows)}</table>",
        "Beyond the Filter Bubble: course book",
    )


def _results_notebook(results: dict[str, Executed]) -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell(
            "# Results\nTables and figures tagged `results` in the executed notebooks, gathered here."
        )
    ]
    for stem, run in results.items():
        tagged = [
            cell
            for cell in (run.notebook.cells if run.notebook else [])
            if RESULTS_TAG in cell.metadata.get("tags", [])
        ]
        if tagged:
            cells.append(nbformat.v4.new_markdown_cell(f"## From [{stem}]({stem}.html)"))
            cells.extend(tagged)
    if len(cells) == 1:
        cells.append(nbformat.v4.new_markdown_cell("*No notebook has cells tagged `results` yet.*"))
    return nbformat.v4.new_notebook(cells=cells)


def build_book(repo_root: Path, fast: bool, only: list[str] | None = None) -> tuple[Path, list[str]]:
    """Execute the solved notebooks and write the book; return (index path, failed notebooks)."""
    out_dir = repo_root / "build" / "book"
    executed_dir = repo_root / "build" / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    executed_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    results: dict[str, Executed] = {}
    for lesson in LESSONS:
        path = repo_root / "solutions" / f"{lesson.stem}.ipynb"
        if not path.exists() or (only and lesson.stem[:2] not in only and lesson.stem not in only):
            continue
        print(f"▶ {lesson.stem} ...", flush=True)
        run = execute(path, fast=fast)
        results[lesson.stem] = run
        print(f"  {'FAILED' if run.error else 'ok'} in {run.seconds:.0f} s", flush=True)
        nbformat.write(run.notebook, executed_dir / path.name)
        body, _ = exporter.from_notebook_node(run.notebook, resources={"metadata": {"name": lesson.title}})
        (out_dir / f"{lesson.stem}.html").write_text(body, encoding="utf-8")
    results_body, _ = exporter.from_notebook_node(
        _results_notebook(results), resources={"metadata": {"name": "Results"}}
    )
    (out_dir / "results.html").write_text(results_body, encoding="utf-8")
    index = out_dir / "index.html"
    index.write_text(_index(results, fast), encoding="utf-8")
    return index, [stem for stem, run in results.items() if run.error]
