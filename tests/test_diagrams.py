import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.diagrams import Box, Diagram


def test_box_anchors_are_the_midpoints_of_its_sides() -> None:
    box = Box(1.0, 2.0, 4.0, 2.0)
    assert box.anchor("left") == (1.0, 3.0)
    assert box.anchor("right") == (5.0, 3.0)
    assert box.anchor("top") == (3.0, 4.0)
    assert box.anchor("bottom") == (3.0, 2.0)
    with pytest.raises(ValueError, match="side must be one of"):
        box.anchor("middle")


def test_a_diagram_draws_boxes_arrows_and_a_masked_matrix() -> None:
    diagram = Diagram(6, 2, title="encode then decode")
    diagram.box("x", 0.2, 0.5, "x")
    diagram.box("z", 3.0, 0.5, "z", colour="highlight")
    diagram.arrow("x", "z", "q(z|x)")
    mask = np.tril(np.ones((3, 3)))
    mask[mask == 0] = np.nan
    bounds = diagram.matrix(5.0, 0.2, mask, cell=0.25, row_labels=list("abc"))
    figure = diagram.show()
    assert isinstance(figure, Figure)
    assert bounds == Box(5.0, 0.2, 0.75, 0.75)
    texts = {text.get_text() for text in diagram.ax.texts}
    assert {"x", "z", "q(z|x)", "a", "b", "c"} <= texts
    assert diagram.ax.get_title() == "encode then decode"
    assert len(diagram.ax.patches) == 2 + 1 + 9  # two boxes, one arrow, nine matrix cells


def test_bad_input_is_refused_with_the_reason() -> None:
    diagram = Diagram(4, 2)
    diagram.box("a", 0, 0, "a")
    with pytest.raises(ValueError, match="already exists"):
        diagram.box("a", 1, 1, "again")
    with pytest.raises(KeyError, match="no box named 'b'"):
        diagram.arrow("a", "b")
    with pytest.raises(ValueError, match="non-empty 2-D"):
        diagram.matrix(0, 0, np.zeros(3))
    with pytest.raises(ValueError, match="positive inches"):
        Diagram(0, 2)
