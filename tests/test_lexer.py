"""The pygments lexer for treenet (issue 10): the language's tokens as the grammar has them,
every function of the op registry highlighted as a built-in, and the REPL's `:` commands."""

from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation

from treenet.lexer import TreenetLexer
from treenet.ops import calls

PROGRAM = """# a neuron
def neuron(a, b) = tanh(p*a + p(0.5)*b + p)
input v[2]
h = neuron(v[0], v[1]) ** 2 - 1e-3
sigmoid(linear(h, speed)); [h, h]
"""


def tokens(text):
    return [(kind, value) for kind, value in TreenetLexer().get_tokens(text)
            if value.strip()]


def test_a_program_lexes_without_errors_and_loses_no_text():
    lexed = list(TreenetLexer().get_tokens(PROGRAM))
    assert "".join(value for _, value in lexed) == PROGRAM
    assert not [t for t in lexed if t[0] in Error]


def test_keywords_parameters_functions_names_numbers_and_operators():
    found = dict((value, kind) for kind, value in tokens(PROGRAM))
    assert found["# a neuron"] in Comment
    assert found["def"] in Keyword and found["input"] in Keyword
    assert found["p"] is Keyword.Pseudo
    for builtin in ("tanh", "sigmoid", "linear"):
        assert found[builtin] is Name.Builtin, builtin
    assert found["neuron"] is Name and found["speed"] is Name and found["h"] is Name
    assert found["0.5"] in Number and found["1e-3"] in Number
    assert found["**"] in Operator and found["="] in Operator
    assert found["["] in Punctuation and found[";"] in Punctuation


def test_every_registered_function_and_dense_is_a_builtin():
    for name in sorted(calls()) + ["dense"]:
        assert tokens(f"{name}(x)")[0] == (Name.Builtin, name)


def test_a_repl_command_is_highlighted_as_a_command():
    assert tokens(":grad net x=1")[0] == (Keyword.Namespace, ":grad")


def test_the_lexer_is_named_for_documentation_and_tn_files():
    assert TreenetLexer.name == "treenet" and "treenet" in TreenetLexer.aliases
    assert "*.tn" in TreenetLexer.filenames


def test_an_installed_treenet_registers_the_lexer_with_pygments():
    """pyproject's pygments.lexers entry point: pygmentize, Sphinx and mkdocs find it by name.
    Only an installed treenet has entry points (CI installs it; a source checkout skips)."""
    import importlib.metadata

    import pytest
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    try:
        importlib.metadata.distribution("treenet")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("treenet is not installed here: no entry points to read")
    assert type(get_lexer_by_name("treenet")).__name__ == "TreenetLexer"
    assert type(get_lexer_for_filename("model.tn")).__name__ == "TreenetLexer"
