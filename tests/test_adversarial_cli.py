"""An adversarial user against the `treenet` command, treenet.Session, the REPL and the CSV
reader (issue 10): each test is one way they failed — a raw traceback, a silently dropped value,
a session that swallowed its own lines — and pins the clear TreenetError or the right result.
In-process (treenet.cli.main, run_lines) where that reaches the same code: no subprocess."""

import errno
import io
import sys

import pytest

import treenet
from treenet import cli
from treenet.repl import incomplete, run_lines
from treenet.table import read_csv


def run_main(capsys, *args):
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# --- the command ----------------------------------------------------------------------------

def test_a_closed_stdin_is_an_error_not_an_attribute_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", None)  # what Python gives a process started with <&-
    for args in (["eval", "-", "x=1"], ["repl"]):
        status, out, err = run_main(capsys, *args)
        assert status == 1 and out == ""
        assert "standard input is closed" in err and "Traceback" not in err


def test_stdin_that_is_not_utf8_is_told_as_such(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x*\xff\n")))
    status, _, err = run_main(capsys, "eval", "-", "x=1")
    assert status == 1
    assert "is not UTF-8 text: byte 0xff" in err and "\\udcff" not in err


def test_stdin_with_a_byte_order_mark_still_reads(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfx*5\n")))
    assert run_main(capsys, "eval", "-", "x=2") == (0, "10\n", "")


class _FullDisk(io.StringIO):
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_stdout_is_an_error_message_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert cli.main(["eval", "x*2", "x=3"]) == 1
    err = capsys.readouterr().err
    assert err == "treenet: cannot write the output: No space left on device\n"


def test_a_closed_stdout_is_an_error_not_a_silent_success(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", None)  # started with >&-: print() would drop the text
    assert cli.main(["eval", "x*2", "x=3"]) == 1
    assert "standard output is closed" in capsys.readouterr().err


def test_a_value_given_twice_is_an_error_not_the_last_one_silently(capsys):
    status, out, err = run_main(capsys, "eval", "x*10", "x=1", "x=2")
    assert (status, out) == (1, "")
    assert "x is given twice (x=1 and x=2)" in err


def test_a_list_for_a_scalar_input_says_so_not_did_you_mean_itself(capsys):
    status, _, err = run_main(capsys, "eval", "x*10", "x=1,2")
    assert status == 1
    assert "x is one input, not an input vector" in err and "did you mean" not in err


def test_one_epoch_is_not_one_epochs(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n0,0\n1,2\n")
    status, out, err = run_main(capsys, "train", "p*x", str(data), "--epochs", "1", "--quiet")
    assert status == 0, err
    assert out.startswith("trained 1 epoch on 2 rows")


# --- CSV ------------------------------------------------------------------------------------

def _csv(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return str(path)


def test_a_row_with_more_cells_than_the_header_is_an_error_not_cut_silently(tmp_path):
    # "0,5" meant 0.5 (a decimal comma): read as x=0, label=5 and the 1 dropped
    path = _csv(tmp_path, "x,label\n0,5,1\n1,1\n")
    with pytest.raises(treenet.TreenetError, match=r"line 2: 3 cells under a header of 2"):
        read_csv(path, ["x"], ["label"])


def test_a_row_with_fewer_cells_than_the_header_is_an_error(tmp_path):
    path = _csv(tmp_path, "x,y,label\n0,1\n")
    with pytest.raises(treenet.TreenetError, match=r"line 2: 2 cells under a header of 3"):
        read_csv(path, ["y"], ["x"])  # not even reading the missing column


def test_a_trailing_comma_on_every_row_still_reads(tmp_path):
    path = _csv(tmp_path, "x,label\n0.5,1,\n2,0,\n")
    assert read_csv(path, ["x"], ["label"]) == [([0.5], 1.0), ([2.0], 0.0)]


def test_a_header_cell_without_a_name_is_an_error(tmp_path):
    path = _csv(tmp_path, "x,,label\n0,0,0\n")
    with pytest.raises(treenet.TreenetError, match="column 2 of the header has no name"):
        read_csv(path, ["x"])


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    path = _csv(tmp_path, "x;label\n0;1\n")
    with pytest.raises(treenet.TreenetError, match="seems separated by ';'"):
        read_csv(path, ["x"], ["label"])


# --- Session --------------------------------------------------------------------------------

def test_session_execute_of_a_non_string_is_a_treenet_error():
    with pytest.raises(treenet.TreenetError, match="takes a line of text"):
        treenet.Session().execute(None)


def test_session_seed_of_a_wrong_type_is_a_treenet_error():
    with pytest.raises(treenet.TreenetError, match="seed must be an integer"):
        treenet.Session(seed=[1])


def test_session_load_with_a_non_string_name_is_a_treenet_error(tmp_path):
    path = tmp_path / "n.tn"
    treenet.save(treenet.parse("x*2"), path)
    with pytest.raises(treenet.TreenetError, match="cannot name a binding"):
        treenet.Session().load(str(path), None)


def test_repl_set_of_one_input_twice_is_an_error():
    s = treenet.Session()
    s.run("x*2")
    with pytest.raises(treenet.TreenetError, match="x is given twice"):
        s.execute(":set x=1 x=2")


# --- the REPL -------------------------------------------------------------------------------

def _piped(text):
    out, err = io.StringIO(), io.StringIO()
    status = run_lines(treenet.Session(seed=0), io.StringIO(text), out, err)
    return status, out.getvalue(), err.getvalue()


def test_a_broken_line_in_a_bracket_does_not_swallow_the_rest_of_the_session():
    # `h = tanh(x y` can never be finished: before, every later line was read into it and lost
    status, out, err = _piped("h = tanh(x y\nz = 3\nz*2\n:print\n")
    assert status == 1
    assert err.count("error:") == 1
    assert out.splitlines() == ["3*2", "= 6", "3*2"]  # z*2 with z = 3, then :print of it


def test_a_command_line_ends_a_statement_left_open():
    status, out, err = _piped("x*1\nnet = sigmoid(x\n:set x=0\nsigmoid(x)\n")
    assert status == 1
    assert "'(' was never closed" in err
    assert out.splitlines() == ["x*1", "x=0", "sigmoid(x)", "= 0.5"]


def test_a_bracket_cut_short_still_takes_more_lines():
    assert incomplete("h = tanh(x +\n")
    assert incomplete("f(x,\n  y,\n")
    assert not incomplete("h = tanh(x y\n")   # already wrong: shown at once
    assert not incomplete("h = tanh(x) )\n")  # too many closed
