"""The package's layout rules: small files, no private imports across modules, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lightning_xai"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text())
    return out


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``from lightning_xai... import ...``, type-only included."""
    return [
        (node.module, [a.name for a in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("lightning_xai")
    ]


def test_no_file_over_300_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, long


def test_no_module_imports_a_private_name_of_another() -> None:
    private = [
        (module, source, name)
        for module, tree in _modules().items()
        for source, names in _imports(tree)
        for name in names
        if name.startswith("_")
    ]
    assert not private, private


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, tree in modules.items():
        targets = set()
        for source, names in _imports(tree):
            # ``from package import module`` names a module; a package's __init__ re-exports
            # and is left out (importing it runs its submodules, not a cycle of logic).
            for name in names:
                if f"{source}.{name}" in modules:
                    targets.add(f"{source}.{name}")
            if source in modules and not (PACKAGE.parent / source.replace(".", "/")).is_dir():
                targets.add(source)
        graph[module] = targets - {module}

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for m in graph if (c := cycle_from(m))]
    assert not cycles, cycles[0]
