"""The review of the command, the Session and the REPL: the places where they told the user
something untrue or said one thing three ways. Each test pins one finding, in the order of the
review's report."""

import math

import pytest

import treenet
from treenet import cli


def softmax_first(x, y):
    """Component 0 of softmax([x, y]) and its gradient (ds0/dx, ds0/dy) = s0*s1*(1, -1)."""
    s0 = 1 / (1 + math.exp(y - x))
    return s0, (s0 * (1 - s0), -s0 * (1 - s0))


def test_repl_grad_of_a_vector_output_takes_the_component_its_error_asks_for():
    s = treenet.Session()
    s.run("v = softmax([x, y])")
    with pytest.raises(treenet.TreenetError, match="--component K"):
        s.execute(":grad v x=1 y=2")
    # the error's advice, followed: before the fix `--component` was "unexpected"
    rows = dict(line.split() for line in s.execute(":grad v x=1 y=2 --component 0")
                .splitlines()[2:])
    _, (dx, dy) = softmax_first(1, 2)
    assert float(rows["x"]) == pytest.approx(dx, rel=1e-12)
    assert float(rows["y"]) == pytest.approx(dy, rel=1e-12)


def test_repl_check_and_derive_of_a_vector_output_take_a_component():
    s = treenet.Session()
    s.run("v = softmax([x, y])")
    assert s.execute(":check v x=1 y=2 --component 1").splitlines()[-1].startswith("ok:")
    d = treenet.parse(s.execute(":derive v x --component 0"))
    assert d.predict({"x": 1, "y": 2}) == pytest.approx(softmax_first(1, 2)[1][0], rel=1e-12)
    with pytest.raises(treenet.TreenetError, match="--component needs a whole number"):
        s.execute(":grad v --component first")


def test_check_of_a_vector_output_names_the_commands_option_not_the_apis(capsys):
    # grad said "--component K", check said "component=k" (gradcheck's keyword)
    status = cli.main(["check", "softmax([x, y])", "x=1", "y=2"])
    err = capsys.readouterr().err
    assert status == 1 and "--component K" in err and "component=k" not in err


def test_help_of_an_unknown_command_gets_the_did_you_mean_that_running_it_gets():
    s = treenet.Session()
    with pytest.raises(treenet.TreenetError) as ran:
        s.execute(":grd")
    with pytest.raises(treenet.TreenetError) as helped:
        s.execute(":help grd")
    assert str(helped.value) == str(ran.value)
    assert "did you mean :grad?" in str(helped.value)


def test_setting_an_unknown_input_says_it_in_one_sentence():
    s = treenet.Session()
    s.run("x + y")
    with pytest.raises(treenet.TreenetError) as err:
        s.execute(":set z=1")
    # was "... of the session (name it in a statement first) (its inputs: x, y)"
    assert ") (" not in str(err.value)
    assert str(err.value).startswith("'z' is not an input of the session (its inputs: x, y)")


def test_a_missing_csv_column_shows_the_header_in_parentheses_after_the_did_you_mean(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,t\n1,2\n")
    from treenet.table import read_csv
    with pytest.raises(treenet.TreenetError) as err:
        read_csv(data, ["x"], ["tt"])
    # was "did you mean 't'?; its header: x, t"
    assert str(err.value).endswith("did you mean 't'? (its header: x, t)")
