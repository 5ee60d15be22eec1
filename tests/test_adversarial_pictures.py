"""An adversarial user against the pictures and the display (issue 10): each test is one way
they failed — a name that broke dot or LaTeX, a format that hangs or litters the folder — and
pins the fixed behaviour (the exports' are in test_adversarial_engines.py)."""

import re

import pytest

import treenet
from treenet import TreenetError, dot
from optional import needs_dot


def neuron():
    return treenet.parse("w = p(0.5)\nsigmoid(w*x + p(0.25)*y + p(-1))")


# --- pictures -------------------------------------------------------------------------------

@needs_dot
def test_a_leaf_with_an_empty_name_still_draws():
    net = treenet.parse("p(0.5)*x")
    net.inputs[0].name = ""
    svg = net.draw()  # before: dot refused the label's empty <B></B>
    assert svg.lstrip().startswith(("<?xml", "<svg"))


def test_draw_to_a_bytes_path_is_a_treenet_error_not_a_type_error(tmp_path):
    with pytest.raises(TreenetError, match="path must be a file name"):
        neuron().draw(bytes(tmp_path / "g.svg"))


@pytest.mark.parametrize("fmt", ["x11", "xlib", "gtk", "vrml"])
def test_formats_that_open_a_window_or_litter_the_folder_are_refused(fmt, monkeypatch):
    # x11/xlib/gtk wait until their window is closed (a hang); vrml writes nodeN.png files
    monkeypatch.setattr(dot, "render", lambda *a: pytest.fail("dot was run"))
    with pytest.raises(TreenetError, match="use svg, png or pdf"):
        neuron().draw(format=fmt)


def test_a_format_that_is_not_a_string_gets_no_did_you_mean():
    with pytest.raises(TreenetError) as info:
        neuron().draw(format=None)
    assert "did you mean" not in str(info.value)


def _unescaped(latex, chars):
    return re.findall(r"(?<!\\)[" + re.escape(chars) + "]", latex)


def test_latex_escapes_every_special_character_of_a_name_set_by_hand():
    net = treenet.parse("sigmoid(p(0.5)*x + p(0.25))")
    net.inputs[0].name = "}$\\%#&{ ~^"
    net.parameters[0].name = "$"
    shown = net._repr_latex_()
    body = shown[1:-1]  # inside $...$
    assert not _unescaped(body, "$%#&~^")
    braces = [c for c in re.sub(r"\\[{}]", "", body) if c in "{}"]
    depth = 0
    for c in braces:  # every group closes, none closes early
        depth += 1 if c == "{" else -1
        assert depth >= 0
    assert depth == 0
