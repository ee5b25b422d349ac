"""The package's import graph, built with ast from the source (imports inside functions count too,
imports under `if TYPE_CHECKING:` do not: they never run): no module sits in an import circle, and
nothing but `__main__` imports from the CLI."""

import ast
import pathlib
from typing import Dict, List, Set

import acme_aliyun

ROOT = pathlib.Path(acme_aliyun.__file__).parent
PKG = "acme_aliyun"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: pathlib.Path, name: str, modules: Set[str]) -> Set[str]:
    """The package modules `path` imports. `from pkg import mod` is an edge to the module pkg.mod
    only (the parent package is imported first anyway, as for every submodule); `from mod import
    name` is an edge to mod."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            subs = {"%s.%s" % (base, a.name) for a in node.names} & modules
            found.update(subs if subs else {base})
    return {m for m in found if m in modules and m != name}


def _runtime_nodes(tree: ast.AST) -> List[ast.AST]:
    """Every node of the tree except those under `if TYPE_CHECKING:`."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def import_graph() -> Dict[str, Set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import circle as a path [a, b, ..., a], or [] when there is none."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _is_package_parent(a: str, b: str) -> bool:
    """`acme_aliyun` itself (its __init__ with the version) is imported by all: not a circle member."""
    return a == PKG or b == PKG


def test_no_import_circle():
    graph = import_graph()
    graph = {m: {n for n in deps if not _is_package_parent(m, n)} for m, deps in graph.items()}
    assert _cycle(graph) == []


def test_graph_sees_a_circle():
    """The detector itself: a made-up circle is found, a chain is not."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_only_main_imports_the_cli():
    graph = import_graph()
    cli = {m for m in graph if m == PKG + ".cli" or m.startswith(PKG + ".cli.")}
    outside = {m: sorted(deps & cli) for m, deps in graph.items() if m not in cli and deps & cli}
    assert outside == {PKG + ".__main__": [PKG + ".cli"]}
