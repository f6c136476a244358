"""keras_rdkl.ner's modules import each other without a circle.

A static check of every import statement, those inside functions included
(`data -> gazetteer -> predict -> data` went through one), since a lazy
import hides a circle from any import-order test.
"""

import ast
import pathlib

from keras_rdkl import ner

PACKAGE = "keras_rdkl.ner"
FOLDER = pathlib.Path(ner.__file__).parent
MODULES = sorted(
    PACKAGE if p.stem == "__init__" else f"{PACKAGE}.{p.stem}"
    for p in FOLDER.glob("*.py")
)


def _path(module):
    name = module[len(PACKAGE) + 1 :] or "__init__"
    return FOLDER / f"{name}.py"


def _imports(module):
    """The ner modules `module` imports anywhere in its source, functions included."""
    out = set()
    for node in ast.walk(ast.parse(_path(module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from keras_rdkl.ner import data` names a module, `... import X` a name.
            names = [f"{node.module}.{a.name}" for a in node.names]
            names = [n if n in MODULES else node.module for n in names]
        else:
            continue
        out.update(n for n in names if n in MODULES and n != module)
    return out


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt, [*stack, nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_ner_import_graph_has_no_cycle():
    graph = {m: _imports(m) for m in MODULES}
    # Sanity: the graph is read (data needs the gazetteer, which tokenizes).
    assert f"{PACKAGE}.gazetteer" in graph[f"{PACKAGE}.data"]
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
    assert graph[f"{PACKAGE}.gazetteer"] == {f"{PACKAGE}.tokens"}


def test_public_tokenize_names():
    from keras_rdkl.ner import predict
    from keras_rdkl.ner import tokens

    assert ner.tokenize is tokens.tokenize is predict.tokenize
    assert ner.tokenize("a b", level="word") == (["a", "b"], [(0, 1), (2, 3)])
