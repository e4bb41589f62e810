"""The package's layers, enforced: no module imports from a layer above its own, and no cycles.

Every import counts, including those inside functions (a lazy import still climbs). Modules in
one layer may import each other. README's "Layout" names the same layers.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytti_nb"

# Top to bottom. A module belongs to the first entry naming it or a package above it.
LAYERS = [
    ("front ends", ["__main__", "cli", "bench", "docs", "ui", "sweep"]),
    ("a run on disk", ["run", "resume"]),
    ("the loop", ["engine"]),
    ("the plan", ["config.plan", "config.share", "config.run_needs"]),
    (
        "what a step is made of",
        ["animation", "image_models", "losses", "perception", "models", "demo"],
    ),
    ("settings", ["config"]),
    ("files and media", ["io", "media"]),
    ("the languages", ["lang"]),
    ("base", ["errors", "console", "timing", "device", "__init__"]),
]


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _imports(name: str, path: Path, is_package: bool, modules) -> set[str]:
    """Every pytti_nb module `name` imports (relative names, no 'pytti_nb.' prefix)."""
    here = name.split(".") if is_package and name != "__init__" else name.split(".")[:-1]
    if name == "__init__":
        here = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("pytti_nb"):
                target = node.module.removeprefix("pytti_nb").lstrip(".")
            else:
                continue
            # `from pkg import name`: the module pkg.name when it is one, else pkg itself.
            targets = [
                f"{target}.{a.name}".lstrip(".")
                if f"{target}.{a.name}".lstrip(".") in modules
                else target
                for a in node.names
            ]
        elif isinstance(node, ast.Import):
            targets = [
                a.name.removeprefix("pytti_nb").lstrip(".")
                for a in node.names
                if a.name.startswith("pytti_nb")
            ]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int:
    for depth, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return depth
    raise AssertionError(f"pytti_nb.{name} is in no layer: add it to LAYERS (and README)")


def _graph():
    modules = _modules()
    return {name: _imports(name, *where, modules) for name, where in modules.items()}


def test_every_module_is_in_a_layer_and_imports_only_its_own_or_lower_layers():
    upward = [
        f"pytti_nb.{name} ({LAYERS[_layer(name)][0]}) imports pytti_nb.{target} "
        f"({LAYERS[_layer(target)][0]})"
        for name, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) < _layer(name)
    ]
    assert not upward, "imports that climb a layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_check_sees_lazy_relative_and_absolute_imports(tmp_path):
    """The checker itself: a function-level import and an absolute one are both found."""
    source = tmp_path / "probe.py"
    source.write_text(
        "def f():\n    from ..io import atomic\n    import pytti_nb.lang.prompts\n",
        encoding="utf-8",
    )
    modules = _modules()
    found = _imports("engine.probe", source, False, modules)
    assert found == {"io.atomic", "lang.prompts"}
