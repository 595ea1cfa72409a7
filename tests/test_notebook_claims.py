"""Lint of the notebooks' claims: a claim that compares two systems goes through ``course_utils.stats``.

A claim whose statement compares ("beats", "better than", "more ... than", "wider" ...) must either
be ``stats.claim_better`` (a CI over users or seeds decides it), test a ``stats.Comparison``
(``.excludes_zero()`` or its CI bounds in the condition), or be listed below with the reason it
is not a comparison of two systems' samples (a reference distribution, a timing, a property of
the data). A new comparative claim that fits none of these fails this test until it is reviewed.
"""

import re
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
COMPARATIVE = re.compile(r"\b(beats?|better|outperforms?|higher|lower|more|less|wider|narrower|than)\b", re.I)
GOES_THROUGH_STATS = re.compile(r"excludes_zero\(|\.ci_low|\.ci_high")

# (notebook, start of the statement) -> why it is not a two-system comparison that needs a CI
REVIEWED = {
    ("00", "MovieLens ratings are far more concentrated than chance"): "vs 200 uniform allocations",
    ("01", "a larger beta buys less information"): "one model per beta: a trend across settings",
    ("02", "the conditional GAN draws the requested category far more often"): "the CI is in the statement",
    ("03", "the click order carries signal"): "a property of the logged data vs its own shuffle",
    ("04", "movie titles alone already place same-genre movies closer"): "against chance",
    ("06", "a model that never recommends anything is more than 99%"): "a property of the metric",
    ("06", "in the content and visual spaces, same-group items are closer"): "against random pairs",
    ("07", "fast greedy DPP is at least 10x faster than the naive greedy"): "a timing, with a 10x margin",
    ("08", "the aligned space retrieves images of the right category"): "against chance",
    ("10", "every single augmentation keeps the embedding closer"): "deterministic on the items",
    ("10", "embedding-neighbour replacement loses more attributes"): "counts over all items",
    ("11", "the judge recognises real held-out photos far better than chance"): "against chance",
    ("12", "... and less than the logging policy's last slates did"): "one simulation run, round-1 coverage",
    ("13", "{encoder}: reading the cache is at least 10x faster"): "a timing, with a 10x margin",
}


def comparative_claims_outside_stats() -> set[tuple[str, str]]:
    """``(notebook number, statement)`` of each comparative ``claim(...)`` not decided by a CI."""
    found = set()
    for path in sorted((REPO / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for match in re.finditer(r"(?<![\w.])claim\(", cell.source):
                call = cell.source[match.end() : match.end() + 600]
                statement = re.match(r"\s*f?(\"[^\"]*\"|'[^']*')", call)
                if statement is None:
                    continue
                text = statement.group(1)[1:-1]
                condition = call[statement.end() : statement.end() + 300]
                if COMPARATIVE.search(text) and not GOES_THROUGH_STATS.search(condition):
                    found.add((path.name[:2], text))
    return found


def test_the_lint_sees_a_comparison_and_a_ci():
    assert COMPARATIVE.search("SASRec beats popularity") and not COMPARATIVE.search("shapes agree")
    assert GOES_THROUGH_STATS.search("gain.excludes_zero(), detail")


def test_every_comparative_claim_is_decided_by_a_ci_or_reviewed():
    unreviewed = {
        (number, text)
        for number, text in comparative_claims_outside_stats()
        if not any(number == n and text.startswith(start) for n, start in REVIEWED)
    }
    assert not unreviewed, (
        "comparative claims decided without a CI: use stats.claim_better (or test a stats.Comparison), "
        f"or review them in this file with the reason: {sorted(unreviewed)}"
    )
