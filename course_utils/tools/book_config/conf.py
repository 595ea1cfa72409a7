"""Sphinx configuration of the course book (Sphinx + MyST-NB + sphinx-book-theme: the toolchain
under Jupyter Book 1). ``python -m course_utils book`` executes the notebooks with the course's own
runner, writes the book's sources to ``build/book-src/`` and builds them with this file; MyST-NB
only renders the stored outputs (``nb_execution_mode = "off"``).

Offline first: MathJax 3 is copied into ``_static/mathjax`` by ``sphinx-mathjax-offline``, the
widget JavaScript MyST-NB would load from a CDN is switched off, and no launch, repository or
comment service is configured, so no page loads anything from the internet.
"""

project = "Beyond the Filter Bubble"
author = "the course authors"
copyright = "the course authors, MIT licence"

extensions = ["myst_nb", "sphinx-mathjax-offline"]

# MyST-NB: render the notebooks as executed by the course's runner; never re-execute them.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # the default loads require.js and the widget manager from CDNs
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_learner", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "Beyond the Filter Bubble"
html_last_updated_fmt = None
html_sourcelink_suffix = ""  # the download button then offers the executed notebook itself
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {},
    "search_bar_text": "Search the course...",
}
