"""The floor plan: each step of the data flow imports only the steps before it. Read from the
sources (ast), lazy imports included, so a layer violation fails here before it becomes a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mrakit"

# In the order data flows; a module may import its own layer and the layers before it.
LAYERS: list[tuple[str, ...]] = [
    ("mrakit.errors", "mrakit.findings", "mrakit.files"),
    ("mrakit.pki",),
    ("mrakit.inventory",),
    ("mrakit.desired",),
    ("mrakit.adapters",),
    ("mrakit.observe", "mrakit.handshake"),
    ("mrakit.rules",),
    ("mrakit.session",),
    ("mrakit.renew", "mrakit.lock"),
    ("mrakit.planner",),
    ("mrakit.applier", "mrakit.diagnosis", "mrakit.ping", "mrakit.discover"),
    ("mrakit.acmerenew", "mrakit.report"),
    ("mrakit.lab",),
    ("mrakit.render",),
    ("mrakit.cli",),
]


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    return None if best is None else best[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, every_module: bool = False) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) for every mrakit import in the file (`every_module`:
    every import, the standard library's and third parties' too)."""
    wanted = "" if every_module else "mrakit"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(n) for block in tree.body if isinstance(block, ast.If)
                 and ast.unparse(block.test) == "TYPE_CHECKING" for n in block.body}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        top = node.col_offset == 0 or id(node) in type_only
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(wanted):
            found.append((node.lineno, node.module, top))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, top) for a in node.names if a.name.startswith(wanted)]
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if _module_name(p) != "mrakit")


def test_every_module_has_a_layer() -> None:
    assert [_module_name(p) for p in _sources() if _layer(_module_name(p)) is None] == []


def test_no_layer_imports_one_after_it() -> None:
    violations = []
    for path in _sources():
        importer = _module_name(path)
        rank = _layer(importer)
        assert rank is not None
        for line, imported, _ in _imports(path):
            target = _layer(imported)
            if target is not None and target > rank:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {importer} imports {imported}")
    assert violations == []


def test_the_core_never_imports_the_lab_and_nothing_imports_the_cli() -> None:
    lab, cli = _layer("mrakit.lab"), _layer("mrakit.cli")
    for path in _sources():
        importer = _module_name(path)
        for line, imported, _ in _imports(path):
            if _layer(imported) == lab:
                assert _layer(importer) in (lab, cli), f"{importer}:{line} imports the lab ({imported})"
            if _layer(imported) == cli:
                assert _layer(importer) == cli, f"{importer}:{line} imports the CLI ({imported})"


def test_a_lazy_import_says_why() -> None:
    """Imports sit at the top of modules; one inside a function carries a comment with its reason."""
    unexplained = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, imported, top in _imports(path, every_module=True):
            text, above = lines[line - 1], lines[line - 2].strip() if line > 1 else ""
            if not top and not text.split("#", 1)[1:] and not above.startswith("#"):
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {imported}")
    assert unexplained == []


def test_the_package_face_shadows_no_module() -> None:
    import mrakit
    import mrakit.planner

    names = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert sorted(set(mrakit.__all__) & names) == []
    assert mrakit.planner.Plan is mrakit.Plan  # the module is reachable as itself after `import mrakit`


def test_findings_are_made_in_the_rules_only() -> None:
    """Rules judge: a finding with its code is made in mrakit/rules/, whatever step found the facts."""
    made_elsewhere = []
    for path in _sources():
        if path.is_relative_to(PACKAGE / "rules"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Finding"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                made_elsewhere.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.args[0].value}")
    assert made_elsewhere == []
