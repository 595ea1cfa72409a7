"""The course book: executes notebooks, writes one page each, an index and a results page."""

import nbformat

from course_utils.tools.book import build_book


def _notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_book_builds_index_pages_and_results(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(
        _notebook(
            nbformat.v4.new_markdown_cell("# 00 · Welcome"),
            nbformat.v4.new_code_cell("import os\nprint('fast =', os.environ['COURSE_FAST'])"),
            nbformat.v4.new_code_cell("print('final table: 0.42')", metadata={"tags": ["results"]}),
        ),
        tmp_path / "solutions" / "00_welcome.ipynb",
    )
    nbformat.write(
        _notebook(nbformat.v4.new_code_cell("1 / 0")),
        tmp_path / "solutions" / "01_autoencoders_and_vaes.ipynb",
    )

    index, failed = build_book(tmp_path, fast=True)

    assert index == tmp_path / "build" / "book" / "index.html"
    assert failed == ["01_autoencoders_and_vaes"]
    page = (tmp_path / "build" / "book" / "00_welcome.html").read_text()
    assert "fast = 1" in page
    index_html = index.read_text()
    assert 'href="00_welcome.html"' in index_html and "failed after" in index_html
    assert "not built" in index_html  # lessons without a notebook are listed, not linked
    assert "ZeroDivisionError" in (tmp_path / "build" / "book" / "01_autoencoders_and_vaes.html").read_text()
    assert "final table: 0.42" in (tmp_path / "build" / "book" / "results.html").read_text()
