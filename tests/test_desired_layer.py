"""The layers of the data flow: `mrakit.desired` derives and imports only what lies below it
(inventory, pki, findings, errors); it never reaches up to the rules that judge it, to observation,
adapters, the lab, a session or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from mrakit_testkit import REPO

BELOW_DESIRED = ("mrakit.desired", "mrakit.inventory", "mrakit.pki", "mrakit.findings", "mrakit.errors")


def mrakit_imports(package: Path) -> dict[str, set[str]]:
    """Each module of `package` → the mrakit modules it imports (anywhere in it, lazily too)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names = found.setdefault(path.relative_to(package.parent).as_posix(), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.split(".")[0] == "mrakit")
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"
                if node.module and node.module.split(".")[0] == "mrakit":
                    # `from mrakit import rules` names a module too
                    names.update([node.module] if node.module != "mrakit" else
                                 [f"mrakit.{a.name}" for a in node.names])
    return found


def test_desired_imports_nothing_above_it():
    imports = mrakit_imports(REPO / "mrakit" / "desired")
    assert "desired/derive.py" in imports and "desired/model.py" in imports
    assert above_desired(imports) == {}


def above_desired(imports: dict[str, set[str]]) -> dict[str, list[str]]:
    above = {module: sorted(n for n in names if not n.startswith(BELOW_DESIRED)) for module, names in imports.items()}
    return {module: names for module, names in above.items() if names}


def test_an_upward_import_is_seen(tmp_path):
    """The check above can fail: imports of the rules, of observe (even inside a function) and of the
    CLI through the package face are all reported."""
    package = tmp_path / "desired"
    package.mkdir()
    (package / "model.py").write_text("from mrakit.pki.certview import CertView\n")
    (package / "derive.py").write_text(
        "from mrakit.rules.certificate import check_validity\n"
        "def f():\n    import mrakit.observe\n"
        "from mrakit import cli\n")
    assert above_desired(mrakit_imports(package)) == {
        "desired/derive.py": ["mrakit.cli", "mrakit.observe", "mrakit.rules.certificate"]}
