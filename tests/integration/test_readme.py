"""The README names every registered method, metric and tag, and every command it shows exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from lightning_xai.methods.captum_catalog import CAPTUM_METHODS, TRANSFORMER_METHODS
from lightning_xai.metrics.catalog import BUILTIN_METRICS
from lightning_xai.tags import TAGS

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_built_in_method_and_metric_is_in_the_readme() -> None:
    # The built-in catalogues, not the live registries: other tests register their own.
    names = [spec.name for spec in (*CAPTUM_METHODS, *TRANSFORMER_METHODS, *BUILTIN_METRICS)]
    assert len(names) >= 45
    missing = [n for n in names if f"`{n}`" not in README]
    assert not missing, f"README.md does not mention {missing}"


def test_every_module_the_readme_runs_exists() -> None:
    modules = set(re.findall(r"python -m ((?:example_trainers|lightning_xai)(?:\.\w+)+)", README))
    assert "example_trainers.digits" in modules
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not missing, f"README.md runs modules that do not exist: {missing}"


def test_every_picture_the_readme_shows_exists() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert pictures
    root = Path(__file__).parents[2]
    assert all((root / p).is_file() for p in pictures), pictures


def test_the_two_set_up_commands_come_first() -> None:
    first = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "bash .ci/setup && .venv/bin/python -m example_trainers.digits" in first
    assert "bash .ci/setup && .venv/bin/python -m pytest" in first
    assert README.index("```bash") < README.index("## ")


def test_the_readme_lists_every_tag() -> None:
    """The README's "Tag layout" is where the monitors' docstrings send users: every kind of
    the table must be there, written as ``xai/attributions/<method>/sample_<k>``."""
    layout = README[README.index("## Tag layout") : README.index("## Methods")]
    names = {"head": "h"}
    missing = [
        kind.template
        for kind in TAGS.values()
        if "`" + re.sub(r"\{(\w+)[^}]*\}", lambda m: f"<{names.get(m[1], m[1])}>", kind.template)
        + "`"
        not in layout
    ]
    assert not missing, f"README's Tag layout does not list {missing}"


def test_every_test_path_the_docs_name_exists() -> None:
    """Every test file (``tests/integration/test_cli.py``) and test module (``python -m
    tests.support.zoo``) that README.md, bench/README.md or a test names exists."""
    root = Path(__file__).parents[2]
    missing = []
    for doc in [root / "README.md", root / "bench" / "README.md", *(root / "tests").rglob("*.py")]:
        text = doc.read_text()
        named = re.findall(r"(?<![\w/.])tests/[\w/]+\.py", text)
        named += [m.replace(".", "/") + ".py" for m in re.findall(r"-m (tests(?:\.\w+)+)", text)]
        missing += [f"{doc.relative_to(root)}: {n}" for n in named if not (root / n).is_file()]
    assert not missing, missing
