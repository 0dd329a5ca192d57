"""The repository as users get it: it stands alone, says its licence, and does not offer keys to git."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from mrakit_testkit import REPO

SIBLING = "../" + "shared"  # spelled apart so this file does not match its own search
ABSOLUTE = "/work/" + "shared"


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.splitlines()
    else:  # an exported tree without .git: every file but the virtual environment and caches
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file()
                 and not {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache"} & set(p.parts)]
    return [REPO / n for n in names if (REPO / n).is_file() and not n.endswith((".pem", ".der", ".p7b"))]


def test_nothing_points_outside_the_repository():
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if SIBLING in text or ABSOLUTE in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_licence_file_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # the SPDX string form (a table is deprecated and warns)
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_changelog_names_the_current_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert f"## [{version}]" in (REPO / "CHANGELOG.md").read_text()


def test_readme_links_the_user_guide():
    readme = (REPO / "README.md").read_text()
    assert "docs/getting-started.md" in readme and (REPO / "docs" / "getting-started.md").is_file()


def test_renewal_output_and_keys_are_not_offered_to_git(make_deployment, tmp_path, run_mrakit):
    """A lab deployment in a git repository with the project's .gitignore, after `mrakit csr
    --local-key` into renewal/ (where the playbooks put CSRs, keys and signed certificates):
    `git status` offers the inventory, but no key, CSR or renewal output."""
    deployment = make_deployment("fresh")
    work = deployment.directory
    shutil.copy(REPO / ".gitignore", work / ".gitignore")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", str(work)], check=True, env=env)
    proc = run_mrakit("csr", "-i", deployment.path, "--cluster", "exp-c", "-o", work / "renewal" / "edge" / "csr",
                      "--local-key", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert list((work / "renewal").rglob("*.key")), "the renewal wrote local keys"
    assert list(work.rglob("*.key")), "the lab wrote keys beside its certificates"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=work, env=env,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    offered = [line[3:] for line in status]
    assert "inventory.yaml" in offered
    assert [f for f in offered if f.endswith((".key", ".csr")) or f.startswith("renewal/")] == []
