"""The package's layout: its parts (sub-packages and top-level modules) import one another without a cycle.

Read from the source with `ast` (nothing is imported): every `import` and `from ... import`, at module level or
inside a function, and every string naming a module (the lazy name tables, `"keras_vit.training.trainer:train"`).
"""

import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_vit"
MODULE_STRING = re.compile(r"(keras_vit(?:\.\w+)+)(?::\w+)?")  # "keras_vit.training.trainer:train"


def _modules():
    """{dotted module name: its file} of every module of keras_vit."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("keras_vit",) + path.relative_to(PACKAGE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _part(module):
    """The part of keras_vit that `module` belongs to: `keras_vit.training.trainer` -> `keras_vit.training`."""
    return ".".join(module.split(".")[:2])


def _imported(tree, module, is_package, modules):
    """(module named, line) for each import and module-naming string in the module `module` parsed as `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of `module`
                anchor = module.split(".")[:len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from keras_vit import export` names the module keras_vit.export
                named = f"{base}.{alias.name}"
                yield (named if named in modules else base), node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = MODULE_STRING.fullmatch(node.value)
            if named and named.group(1) in modules:
                yield named.group(1), node.lineno


def _import_graph():
    """{part: {imported part: [where, e.g. "training/finetune.py:12"]}} between the parts of keras_vit."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(_part(module), {})
        for named, line in _imported(tree, module, path.name == "__init__.py", modules):
            if not (named == "keras_vit" or named.startswith("keras_vit.")):
                continue
            target = _part(named)
            where = f"{path.relative_to(PACKAGE)}:{line}"
            if target != _part(module) and where not in edges.setdefault(target, []):
                edges[target].append(where)
    return graph


def _cycle(graph):
    """A list of parts [a, b, ..., a] that import one another in a circle, or None."""
    state = {}  # part -> "open" while on the path being explored, "done" after

    def visit(part, path):
        state[part] = "open"
        for target in sorted(graph.get(part, {})):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[part] = "done"
        return None

    for part in sorted(graph):
        if part not in state:
            found = visit(part, [part])
            if found:
                return found
    return None


def test_the_parts_of_the_package_import_one_another_without_a_cycle():
    graph = _import_graph()
    cycle = _cycle(graph)
    if cycle:
        steps = [f"{a} -> {b} ({', '.join(graph[a][b])})" for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("Import cycle between parts of keras_vit:\n  " + "\n  ".join(steps))


def test_training_imports_neither_pretraining_nor_fine_tuning_and_both_share_distribute():
    graph = _import_graph()
    assert not {"keras_vit.pretrain", "keras_vit.finetuning"} & set(graph["keras_vit.training"])
    assert {"keras_vit.training", "keras_vit.distribute"} <= set(graph["keras_vit.pretrain"])
    assert {"keras_vit.training", "keras_vit.pretrain"} <= set(graph["keras_vit.finetuning"])
    assert "keras_vit.distribute" in graph["keras_vit.training"]


def test_the_cycle_finder_finds_a_cycle_and_names_its_parts():
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:2"]}, "c": {"b": ["c.py:3"]}}
    assert _cycle(graph) == ["b", "c", "b"]
    assert _cycle({"a": {"b": []}, "b": {}}) is None
