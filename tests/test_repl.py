"""`treenet repl` (issue 10): through a pipe (bindings, an error line in the middle and the
session going on, a gradient, training on a CSV, save then load) and as a terminal
(prompt_toolkit's pipe input; pexpect in a pseudo-terminal): completion of a bound name, more
lines while a bracket is open, and a history file kept between sessions."""

import io
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import treenet
from treenet.repl import completer, history_path, incomplete, prompt_session, run_lines

ROOT = Path(__file__).resolve().parent.parent


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_a_piped_session_keeps_bindings_survives_a_bad_line_and_gives_gradients(tmp_path):
    # h = relu(0.5x - 0.25y + 0.1) = 0.1 and net = sigmoid(2h - 1) = sigmoid(-0.8) at (1, 2)
    session = textwrap_lines("""
        h = relu(p(0.5)*x + p(-0.25)*y + p(0.1))
        oops = sigmod(h)
        net = sigmoid(p(2)*h + p(-1))
        :set x=1 y=2
        net
        :grad net
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "treenet", "repl"], input=session,
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1  # a line failed
    assert "did you mean 'sigmoid'" in result.stderr and "^" in result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout.splitlines()
    assert ">>>" not in result.stdout  # plain output, no prompt
    value = out[out.index("sigmoid(p3*relu(p0*x + p1*y + p2) + p4)") + 1]
    assert float(value.removeprefix("= ")) == pytest.approx(sigmoid(-0.8), rel=1e-15)
    grads = dict(line.split() for line in out[-7:])
    s = sigmoid(-0.8)
    assert float(grads["x"]) == pytest.approx(s * (1 - s) * 2 * 0.5, rel=1e-12)
    assert float(grads["p3"]) == pytest.approx(s * (1 - s) * 0.1, rel=1e-12)


def textwrap_lines(text):
    import textwrap
    return textwrap.dedent(text).lstrip("\n")


def run(text):
    out, err = io.StringIO(), io.StringIO()
    status = run_lines(treenet.Session(seed=0), io.StringIO(textwrap_lines(text)), out, err)
    return status, out.getvalue(), err.getvalue()


def test_a_piped_session_trains_on_a_csv_then_saves_and_loads(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x,t\n" + "".join(f"{x},{3 * x - 1}\n" for x in range(-3, 4)))
    model = tmp_path / "line.tn"
    status, out, err = run(f"""
        line = p(0)*x + p(0)
        :train line {data} --target t --lr 0.02 --epochs 300 --quiet
        :save line {model}
        :reset
        :load {model}
        :set x=10
        line
    """)
    assert status == 0, err
    assert "trained 300 epochs" in out and f"saved line to {model}" in out
    assert float(out.splitlines()[-1].removeprefix("= ")) == pytest.approx(29, abs=1e-3)


def test_a_statement_goes_on_while_a_bracket_is_open():
    status, out, err = run("""
        m = max(x,
                y + 1)  # a comment ( with a bracket
        :set x=0 y=2
        m
        z = (x +
    """)
    assert "max(x, y + 1)\n= 3\n" in out
    assert status == 1 and "'(' was never closed" in err  # the end came inside a bracket
    assert incomplete("f(x, [1,") and not incomplete("f(x)") and incomplete("x + \\")
    assert not incomplete(":print (")


def test_quit_stops_reading():
    status, out, _ = run("""
        1 + 1
        :quit
        2 + 2
    """)
    assert (status, out) == (0, "1 + 1\n= 2\n")


# --- the terminal ---------------------------------------------------------------------------

def _type(inp, buffer, steps):
    """Send each (text, expected buffer text or None) in turn, waiting for the buffer to show
    the expected text (completion runs asynchronously) before the next."""
    def go():
        for text, expected in steps:
            inp.send_text(text)
            deadline = time.monotonic() + 10
            while expected is not None and buffer().text != expected \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def test_tab_completes_a_bound_name_a_function_and_a_command():
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    session = treenet.Session()
    session.run("network = sigmoid(x)")
    with create_pipe_input() as inp:
        prompt = prompt_session(session, input=inp, output=DummyOutput())
        buffer = lambda: prompt.default_buffer  # noqa: E731
        for typed, done in [("netw", "network"), ("tan", "tanh"), (":gr", ":grad")]:
            thread = _type(inp, buffer, [(typed, typed), ("\t", done), ("\r", None)])
            assert prompt.prompt() == done
            thread.join()


def test_the_completer_offers_names_inputs_functions_and_commands():
    from prompt_toolkit.document import Document
    session = treenet.Session()
    session.run("hidden = relu(speed)")
    complete = completer(session)

    def offered(text):
        return {c.text for c in complete.get_completions(Document(text), None)}

    assert offered("h") >= {"hidden"}
    assert offered("sp") == {"speed"}
    assert offered("rel") == {"relu"}
    assert offered(":s") == {"save", "set"}
    assert offered("x + ") == set()


def test_enter_inside_an_open_bracket_starts_another_line():
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    with create_pipe_input() as inp:
        prompt = prompt_session(treenet.Session(), input=inp, output=DummyOutput())
        inp.send_text("max(x,\r y)\r")
        assert prompt.prompt() == "max(x,\n y)"


def test_the_repl_in_a_terminal_keeps_its_history_in_a_file(tmp_path):
    """A real pseudo-terminal. The child is started by subprocess (fork and exec in C), not by
    pexpect.spawn's os.fork: other tests load JAX, whose threads make a Python-level fork in
    this process unsafe (a deadlock, CPython warns). pexpect only reads the terminal's side."""
    import pty

    from pexpect import fdpexpect
    history = tmp_path / "state" / "history"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TREENET_HISTORY=str(history), TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "treenet", "repl"], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    child = fdpexpect.fdspawn(master, timeout=30, encoding="utf-8")
    try:
        child.expect(">>>")
        child.sendline("h = x*3")
        child.expect(">>>")
        child.sendline(":set x=2")
        child.expect("x=2")
        child.sendline("h + 1")
        child.expect("= 7")
        child.sendline("sigmod(x)")
        child.expect("did you mean 'sigmoid'")
        child.sendline("h")
        child.expect("= 6")  # the session went on
        child.expect(">>>")
        child.send("\x04")  # Ctrl-D
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert "h = x*3" in history.read_text()


def test_the_history_file_is_under_the_users_state_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TREENET_HISTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "treenet" / "history"
    monkeypatch.setenv("TREENET_HISTORY", str(tmp_path / "h"))
    assert history_path() == tmp_path / "h"


def test_an_unwritable_history_does_not_break_the_repl(tmp_path):
    from treenet.repl import _history
    blocked = tmp_path / "file"
    blocked.write_text("")
    history = _history(blocked / "history")  # its folder cannot be made: kept in memory
    history.append_string("x + 1")
    assert list(history.get_strings()) == ["x + 1"]
    folder = tmp_path / "a folder"
    folder.mkdir()
    kept = _history(folder)  # a path that cannot be read or written as a file
    kept.append_string("y")
    assert list(kept.get_strings()) == ["y"]


def test_the_readme_repl_session_prints_what_it_shows():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```repl\n", 1)[1].split("```", 1)[0].splitlines()
    typed = [line[4:] for line in block if line.startswith((">>> ", "... "))]
    shown = [line for line in block if not line.startswith((">>> ", "... "))]
    out = io.StringIO()
    run_lines(treenet.Session(), [line + "\n" for line in typed], out, out)
    assert out.getvalue().splitlines() == shown
