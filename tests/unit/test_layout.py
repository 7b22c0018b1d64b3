"""The package's layout rules: small files, no private imports across modules, no cycles;
the tests': tests/unit/ mirrors the package, every test folder is a package."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lightning_xai"
TESTS = PACKAGE.parent / "tests"
# Unit test files that name no module, and why; a test across modules goes to integration/.
CROSS_CUTTING = {"test_layout.py": "the layout rules of the package and of the tests"}


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


def _folders(root: Path) -> list[Path]:
    """The folders under ``root``, relative, without ``__pycache__`` and ``.pytest_cache``."""
    found = (p.relative_to(root) for p in root.rglob("*") if p.is_dir())
    return sorted(p for p in found if not any(s.startswith((".", "__")) for s in p.parts))


def test_the_unit_tests_mirror_the_package() -> None:
    """tests/unit/<path>/test_<name>.py tests lightning_xai/<path>/<name>.py, or the subpackage
    <name>/ as a whole. Helpers go to tests/support/, tests across modules to integration/."""
    unit = TESTS / "unit"
    wrong = [
        f"tests/unit/{d}/: lightning_xai/{d}/ is no subpackage"
        for d in _folders(unit)
        if not (PACKAGE / d / "__init__.py").is_file()
    ]
    for path in sorted(unit.rglob("*.py")):
        rel, name = path.relative_to(unit), path.stem.removeprefix("test_")
        if path.name in ("__init__.py", "conftest.py") or rel.as_posix() in CROSS_CUTTING:
            continue
        target = PACKAGE / rel.parent / name
        module, package = target.with_suffix(".py"), target / "__init__.py"
        if name == path.stem or not (module.is_file() or package.is_file()):
            wrong.append(f"tests/unit/{rel}: lightning_xai/{rel.parent / name}(.py|/) not found")
    assert not wrong, (
        "rename after the module, or move to integration/ (helpers: support/):\n" + "\n".join(wrong)
    )


def test_every_test_folder_is_a_package() -> None:
    """Same-named test files in unit/ and integration/ are told apart by their package."""
    folders = [Path(), *_folders(TESTS)]
    missing = [
        f"tests/{d}/__init__.py" for d in folders if not (TESTS / d / "__init__.py").is_file()
    ]
    assert not missing, f"missing: {missing}"
