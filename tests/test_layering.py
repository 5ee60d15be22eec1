"""The package's layering (issue 7): every import between treenet's modules, function-level ones
included, read with `ast`; no cycles, and no module importing one above it in the order that
treenet/__init__.py's docstring declares. Also the pin on lark, whose internals lalr.py reads."""

import ast
from pathlib import Path
import re

import treenet

PACKAGE = Path(treenet.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def module_names():
    """Every module of the package by name; the package itself (`__init__.py`) is "treenet"."""
    return sorted("treenet" if f.stem == "__init__" else f.stem for f in PACKAGE.glob("*.py"))


def _path(name):
    return PACKAGE / ("__init__.py" if name == "treenet" else f"{name}.py")


def _target(dotted, modules):
    """The module a dotted name inside the package refers to: "x" or "x.y" -> x, "" -> treenet."""
    head = dotted.split(".")[0] if dotted else ""
    return head if head in modules else "treenet"


def imports(name, modules):
    """{module this one imports, at any depth of its code} (relative and absolute forms)."""
    tree = ast.parse(_path(name).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("treenet"):
                continue  # another package
            within = node.module or ""
            if node.level == 0:
                within = within[len("treenet"):].lstrip(".")
            if within:
                found.add(_target(within, modules))
            else:  # from . import x, y: each a module, or a name of the package
                found.update(_target(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "treenet" or alias.name.startswith("treenet."):
                    found.add(_target(alias.name[len("treenet"):].lstrip("."), modules))
    found.discard(name)
    return found


def import_graph():
    modules = set(module_names())
    return {name: imports(name, modules) for name in sorted(modules)}


def declared_order():
    """The module names in the order treenet/__init__.py's docstring declares, lowest first."""
    lines = [line for line in treenet.__doc__.splitlines() if "->" in line]
    names = []
    for part in " ".join(lines).split("->"):
        words = part.split()
        if words:
            names.append(words[0])
    return names


def find_cycle(graph):
    """One import cycle as a list [a, b, ..., a], or None. Iterative depth-first search."""
    state = {}  # name -> "open" while on the path, "done" once all its imports are explored
    for start in graph:
        if start in state:
            continue
        path, stack = [], [(start, iter(sorted(graph[start])))]
        state[start] = "open"
        path.append(start)
        while stack:
            name, todo = stack[-1]
            nxt = next(todo, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[name] = "done"
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
    return None


def test_the_order_names_every_module_once():
    order = declared_order()
    assert len(order) == len(set(order)), order
    assert sorted(order) == module_names(), (sorted(order), module_names())


def test_imports_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_one_above_it():
    rank = {name: k for k, name in enumerate(declared_order())}
    upward = [f"{name} imports {dep}" for name, deps in import_graph().items() for dep in deps
              if rank.get(dep, -1) > rank.get(name, -1)]
    assert not upward, "imports against the declared order: " + "; ".join(sorted(upward))


def test_the_engine_and_the_printer_do_not_reach_the_parser():
    # the engine's error path (graph -> printer) must not import lark to describe a node
    graph = import_graph()
    for start in ("graph", "printer", "nodes", "ops", "macros"):
        seen, todo = set(), [start]
        while todo:
            for dep in graph[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        assert not seen & {"parser", "lalr", "io"}, (start, sorted(seen))


def test_cycle_finder_reports_a_cycle():
    # the checks above are only as good as the search: a cycle hidden two levels down is found
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_linear_keeps_its_old_import_paths():
    from treenet.nodes import Linear as from_nodes
    from treenet.ops import Linear as from_ops
    from treenet.macros import Linear
    assert from_nodes is from_ops is Linear is treenet.Linear


def test_lark_is_pinned_below_the_next_major_version():
    text = PYPROJECT.read_text(encoding="utf-8")
    deps = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1)
    lark = [d for d in re.findall(r'"([^"]+)"', deps) if d.startswith("lark")]
    assert lark and "<2" in lark[0].replace(" ", ""), lark

