"""`csr` and `sign` treat their files as hostile input: a manifest cannot steer writes outside the
output folder or make sign read other CSRs, a CA key must belong to its CA certificate, a symbolic
link at a key path is replaced (its target never written), and unusable output folders are one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from _renewkit import EXPE1, make_test_ca, one_line_error, run_cli

from mrakit.pki.load import load_csr_file


def _edge_csrs(inv_path: Path, csr_dir: Path, *extra: str) -> None:
    result = run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", csr_dir, *extra)
    assert result.code == 0, result.err


def _manifest(csr_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((csr_dir / "manifest.json").read_text())


def test_a_manifest_node_cannot_write_outside_the_output_folder(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir, out = tmp_path / "csr", tmp_path / "deep" / "er" / "out"
    _edge_csrs(inv_path, csr_dir)
    data = _manifest(csr_dir)
    data["requests"][0]["node"] = "../../PWN"
    (csr_dir / "manifest.json").write_text(json.dumps(data))

    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", out)

    line = one_line_error(result.err)
    assert "'../../PWN'" in line and "refusing to sign anything" in line
    assert not list(tmp_path.rglob("PWN*"))
    assert not out.exists() or not list(out.iterdir()), "nothing is signed when one request is bad"


def test_sign_reads_the_csrs_in_csr_dir_not_the_manifests_paths(make_deployment, tmp_path: Path) -> None:
    """The manifest records absolute paths; sign uses only their file names, inside --csr-dir."""
    inv_path = make_deployment("fresh").path
    csr_dir, elsewhere = tmp_path / "csr", tmp_path / "elsewhere"
    _edge_csrs(inv_path, csr_dir)
    _edge_csrs(inv_path, elsewhere)  # other keys: a CSR sign must not pick up
    data = _manifest(csr_dir)
    for request in data["requests"]:
        request["csr_file"] = str(elsewhere / Path(request["csr_file"]).name)
    (csr_dir / "manifest.json").write_text(json.dumps(data))

    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir)

    assert result.code == 0, result.err
    from mrakit.pki.load import load_certificate_file
    leaf = load_certificate_file(csr_dir / f"{EXPE1}.pem")
    ours = load_csr_file(csr_dir / f"{EXPE1}.csr").public_key()
    from mrakit.pki.keys import public_key_sha256
    assert leaf.public_key_fingerprint_sha256 == public_key_sha256(ours)


def test_a_manifest_pointing_at_a_csr_of_another_key_is_refused(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir, elsewhere = tmp_path / "csr", tmp_path / "elsewhere"
    _edge_csrs(inv_path, csr_dir)
    # A CSR of another key (a second on-box request would reuse the pending CSR, as the box does).
    _edge_csrs(inv_path, elsewhere, "--local-key")
    (csr_dir / f"{EXPE1}.csr").write_bytes((elsewhere / f"{EXPE1}.csr").read_bytes())

    line = one_line_error(run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir).err)

    assert "not the CSR the manifest records" in line
    assert not (csr_dir / f"{EXPE1}.pem").exists()


def test_a_ca_key_that_does_not_match_the_ca_certificate_is_refused(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir, out = tmp_path / "csr", tmp_path / "out"
    _edge_csrs(inv_path, csr_dir)
    one, other = make_test_ca(tmp_path / "ca", "One"), make_test_ca(tmp_path / "ca", "Other")

    result = run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", out, "--ca-cert", one.cert,
                     "--ca-key", other.key)

    line = one_line_error(result.err)
    assert f"{other.key} is not the private key of {one.cert}" in line
    assert not out.exists() or not list(out.glob("*.pem"))


def test_local_key_replaces_a_symlink_at_the_key_path_never_writes_its_target(make_deployment,
                                                                              tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir, victim = tmp_path / "csr", tmp_path / "victim.txt"
    csr_dir.mkdir()
    victim.write_text("precious\n")
    (csr_dir / f"{EXPE1}.key").symlink_to(victim)

    _edge_csrs(inv_path, csr_dir, "--local-key")

    assert victim.read_text() == "precious\n"
    key = csr_dir / f"{EXPE1}.key"
    assert not key.is_symlink() and "PRIVATE KEY" in key.read_text()
    assert (key.stat().st_mode & 0o777) == 0o600


def test_csr_output_folder_under_a_file_is_one_line(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    line = one_line_error(run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", blocker / "sub").err)
    assert "a part of the path is a file" in line and "internal error" not in line


def test_sign_output_folder_that_is_a_symlink_loop_is_one_line(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    csr_dir, loop = tmp_path / "csr", tmp_path / "loop"
    _edge_csrs(inv_path, csr_dir)
    os.symlink(loop, loop)
    line = one_line_error(run_cli("sign", "-i", inv_path, "--csr-dir", csr_dir, "-o", loop / "out").err)
    assert "symbolic link loop" in line and "internal error" not in line


def test_csr_output_folder_through_a_symlink_loop_is_one_line(make_deployment, tmp_path: Path) -> None:
    inv_path = make_deployment("fresh").path
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    line = one_line_error(run_cli("csr", "-i", inv_path, "--cluster", "exp-e", "-o", loop / "sub").err)
    assert "symbolic link loop" in line and "internal error" not in line
