"""Reading and writing files defensively: every read capped in size, every write inside the folder
it is meant for, keys never written through a symbolic link, and every OS failure a one-line
MrakitError that says what is wrong with the path (missing folder, a file where a folder should be,
a symbolic link loop) instead of a traceback."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mrakit.errors import MrakitError

MiB = 1024 * 1024
# Generous for real use (a 200-node inventory is ~50 KB, Mozilla's CA bundle ~250 KB), small enough
# that /dev/zero or a pasted disk image fails at once instead of eating memory.
MAX_INVENTORY_BYTES = 2 * MiB
MAX_CERTIFICATE_BYTES = 8 * MiB
MAX_KEY_BYTES = 1 * MiB
MAX_PLAN_BYTES = 64 * MiB
MAX_MANIFEST_BYTES = 4 * MiB
MAX_SECRET_BYTES = 64 * 1024

ErrorFactory = Callable[[str], MrakitError]


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit >= MiB else f"{limit // 1024} KiB"


def os_problem(exc: OSError) -> str:
    """What an OSError means for the path, in words."""
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "not found"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if exc.errno == errno.EISDIR:
        return "a folder, not a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def read_limited(path: str | os.PathLike[str], limit: int, what: str,
                 error: ErrorFactory = MrakitError) -> bytes:
    """The bytes of the file at `path`, refusing anything larger than `limit` (read stops at limit+1,
    so /dev/zero or a FIFO fed forever cannot exhaust memory)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {os_problem(exc)}") from None
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise error(f"{path}: is a directory, not {what}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 * MiB, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {os_problem(exc)}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise error(f"{path}: larger than {_size(limit)}, the size limit for {what}")
    return b"".join(chunks)


def broken_link(path: str | os.PathLike[str]) -> str | None:
    """For a path that does not resolve: "a symbolic link loop" or "a symbolic link to a missing
    file" when it is one (else None, a plain missing file)."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        return "a symbolic link loop" if exc.errno == errno.ELOOP else "a symbolic link to a missing file"
    return None


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """A file mrakit is asked to write (`-o`, `--report`): its folder must exist and be a folder."""
    target = Path(path)
    parent = target.parent
    try:
        info = os.stat(parent)
    except FileNotFoundError:
        raise MrakitError(f"cannot write {target}: its folder {parent} does not exist (create it first)") from None
    except OSError as exc:
        raise MrakitError(f"cannot write {target}: its folder {parent}: {os_problem(exc)}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise MrakitError(f"cannot write {target}: {parent} is a file, not a folder")
    if target.is_dir():
        raise MrakitError(f"cannot write {target}: it is a folder")
    return target


def write_output(path: str | os.PathLike[str], text: str) -> Path:
    """Write an output file (plan, report, CSR, certificate): a one-line error when the path is
    unusable, and written through a temporary file renamed in place, so a symbolic link at the path
    is replaced, never followed, and a reader never sees half a file."""
    target = check_output_file(path)
    write_atomic(target, text.encode("utf-8"), mode=0o644)
    return target


def write_atomic(target: Path, data: bytes, *, mode: int) -> None:
    """`data` to a new temporary file beside `target` (exclusive create, no symlink followed, `mode`
    from the first byte), then renamed over `target`."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError:
        tmp.unlink()  # a leftover of a killed run of this same pid number
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as exc:
        raise MrakitError(f"cannot write {target}: {os_problem(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MrakitError(f"cannot write {target}: {os_problem(exc)}") from None


def output_folder(path: str | os.PathLike[str]) -> Path:
    """A folder mrakit writes into (created if missing): a one-line error when a part of the path is
    a file or a symbolic link loop."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise MrakitError(f"cannot use {folder} as the output folder: it is a file") from None
    except OSError as exc:
        raise MrakitError(f"cannot use {folder} as the output folder: {os_problem(exc)}") from None
    except RuntimeError:  # pathlib's own report of a symbolic link loop
        raise MrakitError(f"cannot use {folder} as the output folder: a symbolic link loop") from None
    return folder


def inside(folder: Path, name: str, what: str) -> Path:
    """`folder / name` for a file name that came from a file mrakit read: refused unless it is one
    plain name that stays inside `folder` (no separators, no `..`, nothing hidden)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
            or name.startswith(".") or any(ord(ch) < 32 for ch in name)):
        raise MrakitError(f"refusing {what} {name!r}: not a plain file name (it would write outside {folder})")
    return folder / name
