"""No hidden wiring between our apps (docs/ARCHITECTURE.md).

import-linter (``lint-imports``, contracts in ``pyproject.toml``) checks that apps import each
other downward only, but it only sees ``import`` statements. A dotted path resolved at run time
(``import_string``, ``importlib.import_module``), a model looked up by name (``apps.get_model``)
or an import guarded by ``except ImportError`` hides a dependency from it, so that a rename turns
into a silently missing figure instead of a failing test. This test reads the syntax tree of
every module of the project — the tests included, which no contract covers — and names each
place that does one of those. Migrations are exempt (historical models must be looked up with
``apps.get_model``), and so is loading a migration module by name (its name starts with a digit)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["config", "registry", "telemetry", "approvals", "actions", "incidents", "evals", "reports", "tests"]


def _project_modules() -> list[Path]:
    files = []
    for package in PACKAGES:
        files += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts]
    return sorted(files)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(_dotted(c) in ("ImportError", "ModuleNotFoundError") for c in caught if c is not None)


def _names_a_migration(call: ast.Call) -> bool:
    first = call.args[0] if call.args else None
    return isinstance(first, ast.Constant) and isinstance(first.value, str) and ".migrations." in first.value


def _hidden_wiring(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.utils.module_loading":
            found.append((node.lineno, "imports django.utils.module_loading"))
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if _names_a_migration(node):
                continue  # a migration module's name starts with a digit: no plain import can reach it
            if called.endswith("import_string") or called in ("importlib.import_module", "import_module", "__import__"):
                found.append((node.lineno, f"resolves a dotted path with {called}()"))
            elif called.endswith("apps.get_model"):
                found.append((node.lineno, "looks a model up by name with apps.get_model()"))
        elif isinstance(node, ast.ExceptHandler) and node.type is not None and _catches_import_error(node):
            found.append((node.lineno, "guards an import with except ImportError"))
    return sorted(found)


def test_it_finds_each_kind_of_hidden_wiring():
    source = """
from django.utils.module_loading import import_string
from django.apps import apps
import importlib
try:
    import incidents
except (ValueError, ImportError):
    pass
import_string("incidents.services.x")
apps.get_model("incidents", "Incident")
importlib.import_module("incidents")
importlib.import_module("incidents.migrations.0002_seed")
"""
    assert [line for line, _ in _hidden_wiring(ast.parse(source))] == [2, 7, 9, 10, 11]


def test_no_app_hides_a_dependency():
    offences = []
    for path in _project_modules():
        if path == Path(__file__).resolve():
            continue  # this file spells the offences out on purpose
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offences += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in _hidden_wiring(tree)]
    assert offences == [], "Hidden wiring between apps (use a plain import or an extension point):\n" + "\n".join(
        offences
    )
