"""`treenet repl`: statements of the language one line after another, their bindings kept (a
treenet.Session), with `:` commands (`:help` lists them).

On a terminal it runs prompt_toolkit: history kept in a file between sessions ($TREENET_HISTORY,
else $XDG_STATE_HOME/treenet/history or ~/.local/state/treenet/history), tab completion of bound
names, inputs, functions and commands, syntax highlighting (treenet.lexer) and, while a bracket
is open, more lines for the same statement. From a pipe (`treenet repl < session.tn`) it reads
line by line and prints plain text: results on stdout, errors on stderr, and exits 1 if a line
failed. A bad line shows its error (with the caret) and the session goes on with nothing lost."""

import os
from pathlib import Path
import re
import sys
import traceback

from .errors import TreenetError
from .names import KEYWORDS, VECTOR_CALLS
from .ops import calls
from .parser import needs_more
from .session import COMMANDS, Quit, Session

PROMPT, CONTINUATION = ">>> ", "... "
_CLOSING = {")": "(", "]": "["}


def open_brackets(text):
    """How many brackets are open at the end of `text` (comments skipped); a statement goes on
    on the next line while this is positive, or after a line that ends with a backslash."""
    depth = 0
    for line in text.split("\n"):
        for ch in line.split("#", 1)[0]:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
    return depth


def incomplete(text):
    """True while the statement in `text` needs another line: a bracket is open and the text
    so far is only cut short (a line that already broke the syntax is shown at once, not fed
    the rest of the session), or the line ends with a backslash."""
    if text.lstrip().startswith(":"):
        return False
    if text.split("#", 1)[0].rstrip("\n").endswith("\\"):
        return True
    return open_brackets(text) > 0 and needs_more(text)


def _respond(session, text, out, err):
    """Run one statement or command; print what it gives. False when it failed."""
    try:
        shown = session.execute(text)
    except TreenetError as exc:
        print(f"error: {exc}", file=err, flush=True)
        return False
    except KeyboardInterrupt:  # Ctrl-C in a long :train or :check: the session goes on
        print("interrupted", file=err, flush=True)
        return False
    except (Quit, SystemExit):
        raise
    except Exception:  # a bug, or a user's op that raised: show it, keep the session
        traceback.print_exc(file=err)
        return False
    if shown:
        print(shown, file=out, flush=True)
    return True


def run_lines(session, lines, out=None, err=None):
    """Run the lines (an iterable of strings), joining those of a statement whose brackets are
    open; returns the exit status: 0, or 1 if a line failed. Stops at `:quit`."""
    out, err = out or sys.stdout, err or sys.stderr
    status, pending = 0, ""
    try:
        for line in lines:
            if pending and line.lstrip().startswith(":"):
                # a command ends the statement left open: its error shows, then the command runs
                if not _respond(session, pending.rstrip("\n"), out, err):
                    status = 1
                pending = ""
            pending += line if line.endswith("\n") else line + "\n"
            if incomplete(pending):
                continue
            text, pending = pending.rstrip("\n"), ""
            if not _respond(session, text, out, err):
                status = 1
        if pending.strip() and not _respond(session, pending.rstrip("\n"), out, err):
            status = 1  # the text ended inside a bracket: the parser says which
    except Quit:
        pass
    return status


# --- the terminal ---------------------------------------------------------------------------

def history_path():
    """Where the history file goes: $TREENET_HISTORY, else the user's state directory."""
    given = os.environ.get("TREENET_HISTORY")
    if given:
        return Path(given)
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "treenet" / "history"


def _history(path):
    """A FileHistory at `path` that never breaks the REPL: a file that cannot be made, read or
    written leaves a history for this session only."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class _Kept(FileHistory):
        def load_history_strings(self):
            try:
                yield from super().load_history_strings()
            except (OSError, UnicodeDecodeError):
                return

        def store_string(self, string):
            try:
                super().store_string(string)
            except OSError:
                pass  # the line stays in this session's history

    if path is None:
        return InMemoryHistory()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return _Kept(str(path))


def completer(session):
    """Completes `:` commands at the start of a line, else bound names, inputs, functions and
    keywords."""
    from prompt_toolkit.completion import Completer, Completion

    class _Names(Completer):
        def get_completions(self, document, complete_event):
            word = document.get_word_before_cursor()
            before = document.text_before_cursor
            if re.fullmatch(r"\s*:\w*", before):
                options = sorted(COMMANDS)
            elif not re.match(r"[A-Za-z_]\w*\Z", word or ""):
                return
            else:
                options = sorted(set(session.names) | set(session.inputs) | set(calls())
                                 | VECTOR_CALLS | KEYWORDS)
            for option in options:
                if option.startswith(word) and option != word:
                    yield Completion(option, start_position=-len(word))

    return _Names()


def prompt_session(session, input=None, output=None, history=None):
    """The prompt_toolkit PromptSession of the REPL (input/output given in tests)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.application.current import get_app
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.lexers import PygmentsLexer
    from .lexer import TreenetLexer

    more = Condition(lambda: incomplete(get_app().current_buffer.text))
    return PromptSession(PROMPT, multiline=more, prompt_continuation=CONTINUATION,
                         history=history if history is not None else _history(None),
                         completer=completer(session), complete_while_typing=False,
                         lexer=PygmentsLexer(TreenetLexer), input=input, output=output)


def interactive(session, prompt=None, out=None):
    """Read, run and print until Ctrl-D or `:quit`; Ctrl-C drops the line being typed."""
    out = out or sys.stdout
    prompt = prompt or prompt_session(session, history=_history(history_path()))
    while True:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        if not text.strip():
            continue
        try:
            _respond(session, text, out, out)
        except Quit:
            return 0


def main(seed=None):
    """`treenet repl`: interactive on a terminal, line by line from a pipe."""
    session = Session(seed=seed)
    if sys.stdin is None:  # started with `<&-`
        raise TreenetError("standard input is closed, so the REPL has nothing to read: run "
                           "it on a terminal, or pipe statements into it")
    if sys.stdin.isatty() and sys.stdout.isatty():
        from . import __version__
        try:
            import prompt_toolkit  # noqa: F401
        except ImportError:
            print("treenet repl: prompt_toolkit is not installed (pip install prompt_toolkit "
                  "pygments): plain lines, no history or completion", file=sys.stderr)
            return run_lines(session, sys.stdin)
        print(f"treenet {__version__}: statements of the language, :help for the commands, "
              "Ctrl-D to leave")
        return interactive(session)
    return run_lines(session, sys.stdin)


__all__ = ["main", "run_lines", "interactive", "prompt_session", "completer", "history_path",
           "open_brackets", "incomplete"]
