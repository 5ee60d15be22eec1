"""A fast runner for the LALR tables lark builds from grammar/treenet.lark.

lark stays the source of truth: it reads the grammar, builds the parse table, the terminals and the
per-rule callbacks (which drop anonymous tokens, inline `_rules` and `?rules`). What this module
replaces is lark's generic token loop, which dominated parsing (about 3x slower): one regex made
from lark's terminals, and one loop that shifts and reduces, handing each reduction straight to the
caller instead of building a tree first. A program this loop cannot parse stops it with
`SyntaxFallback`: where, what was found, the terminals the table expected there and the brackets
still open. Line ends are LF only: the caller turns CRLF and a lone CR into LF first.

lark's tables are cached (lark's own `cache=`) in the user's cache directory, so a fresh
interpreter loads them instead of building them again; a directory that cannot be written means no
cache, and a stale or corrupted cache file is rebuilt (lark checks a hash of the grammar, its
options and its version, and falls back to building on any error reading the file)."""

import contextvars
import hashlib
import os
from pathlib import Path
import re
import sys

import lark as _lark
from lark import Lark, Token, Tree
from lark.parsers.lalr_analysis import Shift

_reduce = contextvars.ContextVar("treenet_reduce")


class SyntaxFallback(Exception):
    """The text is not in the language. Says where (`pos`, `line`, `column`), what was found
    (`token`, None for a character no terminal matches, or the `$END` token) and which
    terminals the parser could have taken there (`expected`); `unclosed` holds the opening bracket
    tokens shifted and not yet closed, innermost last."""

    def __init__(self, pos, line, column, token, expected, unclosed=()):
        super().__init__(f"syntax error at line {line}, column {column}")
        self.pos, self.line, self.column = pos, line, column
        self.token, self.expected, self.unclosed = token, expected, list(unclosed)


class _Reduced:
    """lark's tree_class for the fast tables: a reduction goes to the running parse's handler.
    Rules lark inlines afterwards (`_sep`, its own `__start_star_0`...) stay lark Trees."""

    # lark passes rule names as Tokens, whose == is slow; look up plain strings by identity
    # (the Tokens are kept alive here, so an id is never reused)
    _names = {}

    def __new__(cls, data, children, meta=None):
        entry = cls._names.get(id(data))
        if entry is None:
            entry = cls._names[id(data)] = (str(data), data)
        name = entry[0]
        if name[0] == "_":
            return Tree(name, children)
        return _reduce.get()(name, children)


def cache_dir():
    """Where lark's tables are cached: $XDG_CACHE_HOME/treenet, else ~/.cache/treenet; None when
    neither is an absolute path (the XDG spec ignores a relative one, and a home that cannot be
    found must not become a folder in the working directory)."""
    for base in (os.environ.get("XDG_CACHE_HOME", ""),
                 os.path.join(os.path.expanduser("~"), ".cache")):
        if os.path.isabs(base):
            return Path(base) / "treenet"
    return None


def cache_file(grammar):
    """The cache file for `grammar` (named by a hash of it and the lark and Python versions, so
    two grammars or versions never overwrite each other's tables), or False when the cache directory
    cannot be made or written: then lark builds the tables every time."""
    folder = cache_dir()
    if folder is None:
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    versions = f"{_lark.__version__}\0{sys.version_info[:2]}"
    key = hashlib.sha256(f"{grammar}\0{versions}".encode("utf-8")).hexdigest()[:16]
    return str(folder / f"grammar-{key}.lark")


class FastLALR:
    """Parses with lark's tables for `grammar`; newlines inside `brackets` are dropped."""

    def __init__(self, grammar, start="start", brackets=(("LPAR", "RPAR"), ("LSQB", "RSQB")),
                 newline="_NL", cache=True):
        lark = Lark(grammar, parser="lalr", lexer="basic", tree_class=_Reduced,
                    maybe_placeholders=False, cache=cache_file(grammar) if cache else False)
        inner = lark.parser.parser.parser
        table = inner.parse_table
        self.states = table.states
        self.start = table.start_states[start]
        self.end = table.end_states[start]
        self.callbacks = inner.callbacks
        terminals = lark.terminals
        word = re.compile(r"[A-Za-z_]\w*\Z")
        # keywords ("def", "input") are lexed as names and renamed, as lark does
        self.keywords = {t.pattern.value: t.name for t in terminals
                         if t.pattern.type == "str" and word.match(t.pattern.value)}
        lexed = [t for t in terminals if t.name not in self.keywords.values()]
        # lark's order: priority, then longest possible match first ("**" before "*")
        lexed.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value),
                                  t.name))
        self.regex = re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})"
                                         for t in lexed))
        self.ignore = frozenset(lark.lexer_conf.ignore)
        self.patterns = {t.name: t.pattern for t in terminals}
        self.opening = frozenset(a for a, _ in brackets)
        self.closing = frozenset(b for _, b in brackets)
        self.newline = newline

    def parse(self, text, reduce, on_shift=None):
        """Run the tables over `text`, calling reduce(rule, children) for each reduction and
        on_shift(token) for each token shifted; returns what the start rule reduced to."""
        states, callbacks, end = self.states, self.callbacks, self.end
        match, keywords, ignore = self.regex.match, self.keywords, self.ignore
        opening, closing, newline = self.opening, self.closing, self.newline
        stack, values, brackets = [self.start], [], []
        pos, size, line, line_start = 0, len(text), 1, 0
        token_context = _reduce.set(reduce)
        try:
            while True:
                if pos < size:
                    m = match(text, pos)
                    if m is None:
                        raise self._error(stack, pos, line, pos - line_start + 1, None,
                                          brackets)
                    kind, value, end_pos = m.lastgroup, m.group(), m.end()
                    if kind in ignore or (kind == newline and brackets):
                        breaks = value.count("\n")
                        if breaks:
                            line += breaks
                            line_start = value.rindex("\n") + pos + 1
                        pos = end_pos
                        continue
                    if kind == "NAME":
                        kind = keywords.get(value, kind)
                    tok = Token(kind, value, pos, line, pos - line_start + 1)
                    if kind == newline:
                        line += value.count("\n")
                        line_start = value.rindex("\n") + pos + 1
                    pos = end_pos
                else:
                    kind = "$END"
                    tok = Token(kind, "", pos, line, pos - line_start + 1)
                while True:
                    action = states[stack[-1]].get(kind)
                    if action is None:
                        raise self._error(stack, tok.start_pos, tok.line, tok.column, tok,
                                          brackets)
                    op, arg = action
                    if op is Shift:
                        stack.append(arg)
                        values.append(tok)
                        # the table shifts a closing bracket only onto its own opening one, so
                        # the stack of shifted brackets is the nesting, and an error keeps it
                        if kind in opening:
                            brackets.append(tok)
                        elif kind in closing:
                            brackets.pop()
                        if on_shift is not None:
                            on_shift(tok)
                        break
                    n = len(arg.expansion)
                    if n:
                        children = values[-n:]
                        del values[-n:]
                        del stack[-n:]
                    else:
                        children = []
                    values.append(callbacks[arg](children))
                    stack.append(states[stack[-1]][arg.origin.name][1])
                    if kind == "$END" and stack[-1] == end:
                        return values[-1]
        finally:
            _reduce.reset(token_context)

    def _error(self, stack, pos, line, column, token, brackets):
        expected = {name for name in self.states[stack[-1]] if name.isupper()}
        return SyntaxFallback(pos, line, column, token, expected, brackets)

    def unclosed_at_end(self, text, error):
        """The brackets still open at the end of `text`, innermost last: those open at `error`,
        then every bracket after it counted without the grammar (as Python's tokenizer does to
        tell an unclosed bracket from a plain syntax error)."""
        open_ = list(error.unclosed)
        pos, line, line_start = error.pos, error.line, error.pos - error.column + 1
        while pos < len(text):
            m = self.regex.match(text, pos)
            if m is None:
                pos += 1
                continue
            kind, value = m.lastgroup, m.group()
            if kind in self.opening:
                open_.append(Token(kind, value, pos, line, pos - line_start + 1))
            elif kind in self.closing and open_:
                open_.pop()
            breaks = value.count("\n")
            if breaks:
                line += breaks
                line_start = pos + value.rindex("\n") + 1
            pos = m.end()
        return open_

    def terminal_pattern(self, name):
        """lark's pattern for terminal `name` (None if there is none)."""
        return self.patterns.get(name)
