"""The layout is the architecture (docs/architecture.md): imports point down the layers only,
the import graph has no cycle, project imports sit at module level, and the library never imports
gradio.  Read from the source with ast, so a violation fails here before it confuses anyone."""
from __future__ import annotations

import ast
import os

from ganinv.optional import LAZY_IMPORTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lowest first.  A module may import its own layer and the layers below it.
LAYERS = [
    ("base", ["ganinv", "ganinv.settings", "ganinv.optional"]),
    ("core", ["ganinv.cache", "ganinv.io", "ganinv.latent", "ganinv.losses", "ganinv.plots", "ganinv.registry",
              "ganinv.models", "ganinv.faces", "ganinv.identity", "ganinv.attributes", "ganinv.clip_models"]),
    ("methods", ["ganinv.invert", "ganinv.edit"]),
    ("actions", ["ganinv.actions"]),
    ("front ends", ["ganinv.cli", "ganinv.__main__", "webapp", "app"]),
]


def modules() -> dict[str, str]:
    """module name -> path, for ganinv/, webapp/ and app.py."""
    out = {"app": os.path.join(ROOT, "app.py")}
    for top in ("ganinv", "webapp"):
        for dp, dn, fn in os.walk(os.path.join(ROOT, top)):
            dn[:] = [d for d in dn if d != "__pycache__"]
            for f in fn:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dp, f), ROOT)[:-3].replace(os.sep, ".")
                    out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(dp, f)
    return out


MODULES = modules()


def layer_of(mod: str) -> int:
    best, found = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    assert found is not None, f"{mod} is in no layer: add it to LAYERS and docs/architecture.md"
    return found


def resolve(cur: str, node: ast.AST) -> list[str]:
    """Project modules an import statement refers to."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = cur.split(".")
            if not MODULES[cur].endswith("__init__.py"):
                pkg = pkg[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join(pkg + ([base] if base else []))
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    out = []
    for n in names:
        while n and n not in MODULES:
            n = n.rpartition(".")[0]
        if n and n != cur:
            out.append(n)
    return out


def imports(path: str):
    """(node, inside_function, type_checking_only) for every import statement."""
    tree = ast.parse(open(path).read())
    found = []

    def visit(node, in_fn=False, in_tc=False):
        for child in ast.iter_child_nodes(node):
            fn = in_fn or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            tc = in_tc or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_fn, in_tc))
            visit(child, fn, tc)
    visit(tree)
    return found


GRAPH = {m: {t for node, _, tc in imports(p) if not tc for t in resolve(m, node)} for m, p in MODULES.items()}


def test_imports_point_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in GRAPH.items() for t in targets if layer_of(t) > layer_of(m)]
    assert not upward, "imports that point up a layer:\n" + "\n".join(sorted(upward))


FRONT_END_MAY_USE = ("ganinv.actions", "ganinv.settings", "ganinv.cli", "webapp", "ganinv")


def test_front_ends_call_the_actions_and_nothing_below():
    """The app, the CLI and scripts share one layer of tasks: a front end never reaches past it."""
    bad = [f"{m} imports {t}" for m, targets in GRAPH.items() if LAYERS[layer_of(m)][0] == "front ends"
           for t in targets if not any(t == p or t.startswith(p + ".") for p in FRONT_END_MAY_USE[:-1])
           and t != "ganinv"]
    assert not bad, "front ends importing below the action layer:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package importing its own submodule (its __init__ re-exports) is not a cycle
            if len(comp) > 1 and not (len(comp) == 2 and max(comp).startswith(min(comp) + ".")):
                cycles.append(sorted(comp))
    for v in GRAPH:
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_at_module_level():
    """Project modules are imported at module level; third-party ones too, except the listed lazy ones."""
    bad = []
    for m, p in MODULES.items():
        for node, in_fn, _ in imports(p):
            if not in_fn:
                continue
            if resolve(m, node) or getattr(node, "level", 0):
                bad.append(f"{m}:{node.lineno} imports a project module inside a function")
                continue
            top = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]
            if top not in LAZY_IMPORTS:
                bad.append(f"{m}:{node.lineno} imports {top} inside a function (not in ganinv.optional.LAZY_IMPORTS)")
    assert not bad, "\n".join(bad)


def test_library_never_imports_gradio():
    bad = [m for m, p in MODULES.items() if m.startswith("ganinv")
           for node, _, _ in imports(p)
           if "gradio" in ((node.module or "") if isinstance(node, ast.ImportFrom) else node.names[0].name)]
    assert not bad, f"ganinv modules importing gradio: {bad}"


def test_the_checker_sees_a_violation(tmp_path):
    """The rules above are not vacuous: an upward import and a cycle are caught."""
    assert layer_of("ganinv.actions.edit") > layer_of("ganinv.edit.apply") > layer_of("ganinv.latent")
    node = ast.parse("from ..actions import edit").body[0]
    assert resolve("ganinv.edit.apply", node) == ["ganinv.actions.edit"] or \
        resolve("ganinv.edit.apply", node) == ["ganinv.actions", "ganinv.actions.edit"]
