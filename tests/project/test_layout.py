"""The package layout the README describes: one package per stage, each importing
only from the stages before it (and from ``core``), and no import of another
module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "na64stat"
#: Stages in the order the data flows (README, "Layout").
STAGES = ["core", "physics", "simulation", "selection", "model", "inference", "results", "app"]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every ``na64stat`` import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("na64stat"):
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name, []) for a in node.names if a.name.startswith("na64stat")
            ]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_lives_in_a_stage_package():
    top_level = {p.name for p in PACKAGE.glob("*.py")}
    assert top_level == {"__init__.py", "__main__.py"}
    assert {p.parent.name for p in _modules() if p.parent != PACKAGE} == set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_imports_only_earlier_stages(stage):
    later = set(STAGES[STAGES.index(stage) + 1 :])
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for path in (PACKAGE / stage).glob("*.py")
        for line, module, _ in _imports(path)
        if module.split(".")[1:2] and module.split(".")[1] in later
    ]
    assert wrong == []


#: Stage pairs with no import between them although the order would allow it: the selection reads
#: any ROOT file (real data too), so it shares the ROOT writer with the simulation through core.
INDEPENDENT = [("selection", "simulation")]


@pytest.mark.parametrize(("stage", "other"), INDEPENDENT)
def test_independent_stages_do_not_import_each_other(stage, other):
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for path in (PACKAGE / stage).glob("*.py")
        for line, module, _ in _imports(path)
        if module.split(".")[1:2] == [other]
    ]
    assert wrong == []


def test_no_module_imports_private_names_of_another():
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name} from {module}"
        for path in _modules()
        for line, module, names in _imports(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert wrong == []


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Local names bound to na64stat modules: ``import na64stat.a.b as x`` and ``from na64stat.a
    import b``.
    """
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update(
                {
                    a.asname: a.name
                    for a in node.names
                    if a.name.startswith("na64stat.") and a.asname
                }
            )
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("na64stat")
        ):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if (PACKAGE.parent / full.replace(".", "/")).with_suffix(".py").is_file() or (
                    PACKAGE.parent / full.replace(".", "/") / "__init__.py"
                ).is_file():
                    aliases[a.asname or a.name] = full
    return aliases


def test_no_module_reads_private_attributes_of_another():
    wrong = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = _module_aliases(tree)
        wrong += [
            f"{path.relative_to(PACKAGE)}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ]
    assert wrong == []
