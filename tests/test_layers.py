"""The package layers: the library imports neither the application nor the built-in model,
``grounding_data`` never imports ``medloc``, and the scheduler core is plain Python + numpy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = ("medloc.app", "medloc.builtin")


def library_files() -> list[Path]:
    """Every module of the library: ``medloc/`` without ``app/``, ``builtin/`` and the ``__main__`` launcher."""
    excluded = {ROOT / "medloc" / "app", ROOT / "medloc" / "builtin"}
    return sorted(
        path for path in (ROOT / "medloc").rglob("*.py")
        if not any(folder in path.parents for folder in excluded) and path.name != "__main__.py"
    )


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module an ``import`` statement of ``path`` names, at any depth (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offending(paths: list[Path], forbidden: tuple[str, ...], root: Path = ROOT) -> dict[str, list[str]]:
    """File -> the imports it makes of ``forbidden`` packages (files without any left out)."""
    found = {}
    for path in paths:
        bad = sorted(name for name in imported_modules(path, root)
                     if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden))
        if bad:
            found[str(path.relative_to(root))] = bad
    return found


def test_the_library_files_are_found():
    names = {module_name(path) for path in library_files()}
    assert {"medloc", "medloc.curriculum", "medloc.rewards", "medloc.integrations.trl_cli"} <= names
    assert not any(name.startswith(APPLICATION) for name in names)


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "medloc" / "sneaky.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from medloc.app.settings import TrainSettings\n    from .builtin import tiny_model\n")
    assert offending([module], APPLICATION, root=tmp_path) == {
        "medloc/sneaky.py": ["medloc.app.settings", "medloc.app.settings.TrainSettings", "medloc.builtin",
                             "medloc.builtin.tiny_model"]}


def test_no_library_module_imports_the_application_or_the_builtin_model():
    assert offending(library_files(), APPLICATION) == {}


def test_grounding_data_never_imports_medloc():
    assert offending(sorted((ROOT / "grounding_data").rglob("*.py")), ("medloc",)) == {}


def test_the_scheduler_core_is_plain_python_and_numpy():
    assert offending(sorted((ROOT / "schedulers").rglob("*.py")), ("medloc", "torch", "trl", "transformers")) == {}


@pytest.mark.parametrize("exports", [False, True])
def test_importing_the_library_loads_neither_the_application_nor_the_builtin_model(exports):
    modules = [module_name(path) for path in library_files()]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        + ("import medloc\nfor name in medloc.__all__:\n    getattr(medloc, name)\n" if exports else "")
        + f"print(sorted(m for m in sys.modules if m.startswith({APPLICATION!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_listing_the_tasks_loads_neither_torch_nor_a_task_module():
    code = ("import sys\nfrom medloc.tasks import task_names\nnames = task_names()\n"
            "print(names, 'torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('medloc.tasks.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['grounding', 'vqa', 'grade'] False ['medloc.tasks.base']"


def test_the_library_does_not_export_the_tiny_model():
    import medloc

    assert "build_tiny_vlm" not in medloc.__all__
    with pytest.raises(AttributeError, match="no attribute 'build_tiny_vlm'"):
        medloc.build_tiny_vlm  # noqa: B018
