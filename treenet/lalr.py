"""A fast runner for the LALR tables lark builds from grammar/treenet.lark.

lark stays the source of truth: it reads the grammar, builds the parse table, the terminals and the
per-rule callbacks (which drop anonymous tokens, inline `_rules` and `?rules`). What this module
replaces is lark's generic token loop, which dominated parsing (about 3x slower): one regex made
from lark's terminals, and one loop that shifts and reduces, handing each reduction straight to the
caller instead of building a tree first. A program this loop cannot parse stops it with
`SyntaxFallback`: where, what was found, and the terminals the table expected there."""

import contextvars
import re

from lark import Lark, Token, Tree
from lark.parsers.lalr_analysis import Shift

_reduce = contextvars.ContextVar("treenet_reduce")


class SyntaxFallback(Exception):
    """The text is not in the language. Says where (`pos`, `line`, `column`), what was found
    (`token`, None for a character no terminal matches, or the `$END` token) and which
    terminals the parser could have taken there (`expected`)."""

    def __init__(self, pos, line, column, token, expected):
        super().__init__(f"syntax error at line {line}, column {column}")
        self.pos, self.line, self.column = pos, line, column
        self.token, self.expected = token, expected


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


class FastLALR:
    """Parses with lark's tables for `grammar`; newlines inside `brackets` are dropped."""

    def __init__(self, grammar, start="start", brackets=(("LPAR", "RPAR"), ("LSQB", "RSQB")),
                 newline="_NL"):
        lark = Lark(grammar, parser="lalr", lexer="basic", tree_class=_Reduced,
                    maybe_placeholders=False)
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
        self.ignore = frozenset(lark.ignore_tokens)
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
        stack, values = [self.start], []
        pos, size, line, line_start, depth = 0, len(text), 1, 0, 0
        token_context = _reduce.set(reduce)
        try:
            while True:
                if pos < size:
                    m = match(text, pos)
                    if m is None:
                        raise self._error(stack, pos, line, pos - line_start + 1, None)
                    kind, value, end_pos = m.lastgroup, m.group(), m.end()
                    if kind in ignore or (kind == newline and depth):
                        breaks = value.count("\n")
                        if breaks:
                            line += breaks
                            line_start = value.rindex("\n") + pos + 1
                        pos = end_pos
                        continue
                    if kind == "NAME":
                        kind = keywords.get(value, kind)
                    elif kind in opening:
                        depth += 1
                    elif kind in closing and depth:
                        depth -= 1
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
                        raise self._error(stack, tok.start_pos, tok.line, tok.column, tok)
                    op, arg = action
                    if op is Shift:
                        stack.append(arg)
                        values.append(tok)
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

    def _error(self, stack, pos, line, column, token):
        expected = {name for name in self.states[stack[-1]] if name.isupper()}
        return SyntaxFallback(pos, line, column, token, expected)

    def terminal_pattern(self, name):
        """lark's pattern for terminal `name` (None if there is none)."""
        return self.patterns.get(name)
