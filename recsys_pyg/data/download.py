"""Fetching, unpacking and opening dataset files, and the error every parser raises.

Downloads go through ``urllib`` (``http(s)://`` and ``file://`` URLs), land in a temporary
file beside the destination and are renamed into place only when complete and verified,
so an interrupted download never leaves a half file under the final name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import TextIO

_CHUNK = 1 << 20


class DataFileError(ValueError):
    """Malformed input in a data file; the message reads ``"{path}:{line}: {problem}"``.

    Args:
        path: the file at fault.
        problem: what is wrong and, where possible, how to fix it.
        line: 1-based line number, or ``None`` when the problem concerns the whole file.
    """

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}")


def sha256sum(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file (SHA-256 unless ``algorithm`` names another hashlib algorithm), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None = None, timeout: float = 30.0, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (atomically) and return ``dest``.

    An existing ``dest`` is reused without downloading when its checksum matches ``sha256``
    (or ``md5``, for archives whose publisher gives only that; or when no checksum is given).
    Progress is shown with tqdm when the size is known.

    Raises:
        RuntimeError: the URL cannot be reached; the message says where to put the file by hand.
        ValueError: the downloaded file does not match ``sha256`` (the file is deleted).
    """
    dest = Path(dest)
    algorithm, expected = ("md5", md5.lower()) if md5 else ("sha256", sha256.lower() if sha256 else None)
    if dest.is_file() and (expected is None or sha256sum(dest, algorithm) == expected):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(url, out, dest, timeout)
        if expected is not None:
            actual = sha256sum(tmp, algorithm)
            if actual != expected:
                raise ValueError(
                    f"checksum mismatch for {dest} downloaded from {url}: expected {algorithm} {expected}, "
                    f"got {actual}; the file was deleted. Check the URL and checksum in the dataset config."
                )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _download(url: str, out: io.BufferedWriter, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``out``; wrap network failures in an actionable ``RuntimeError``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            bar = None
            if total:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False)
            try:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise RuntimeError(
            f"could not download {url} ({reason}). If this machine is offline, download the file "
            f"elsewhere and put it at {dest}, or point the config at a local copy with dataset.path=..."
        ) from e


def _safe_target(dest_dir: Path, name: str, archive: Path) -> Path:
    """The path an archive member extracts to; refuse members that escape ``dest_dir``."""
    target = (dest_dir / name).resolve()
    if os.path.isabs(name) or not target.is_relative_to(dest_dir):
        raise DataFileError(archive, f"archive member {name!r} would extract outside {dest_dir}; refusing")
    return target


def extract(archive: Path, dest_dir: Path) -> Path:
    """Unpack a ``.zip``, ``.tar.gz``/``.tgz`` or ``.tar`` archive into ``dest_dir`` and return ``dest_dir``.

    Members with absolute paths, ``..`` components or links pointing outside ``dest_dir``
    raise :class:`DataFileError` before anything is written.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for entry in zf.namelist():
                _safe_target(root, entry, archive)
            zf.extractall(root)
    elif name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for member in members:
                target = _safe_target(root, member.name, archive)
                if member.issym() or member.islnk():
                    base = target.parent if member.issym() else root
                    _safe_target(root, os.path.relpath(base / member.linkname, root), archive)
                elif not (member.isfile() or member.isdir()):
                    raise DataFileError(archive, f"archive member {member.name!r} is not a regular file; refusing")
            if hasattr(tarfile, "data_filter"):
                tf.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                tf.extractall(root, members=members)
    else:
        raise ValueError(f"cannot extract {archive}: expected a .zip, .tar.gz, .tgz or .tar archive")
    return dest_dir


def open_text(path: Path, encoding: str = "utf-8") -> TextIO:
    """Open a text file for reading, plain or gzip-compressed (detected from its magic bytes).

    MovieLens files need ``encoding="latin-1"``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding=encoding)
    return open(path, encoding=encoding)


def resolve_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or its gzipped twin ``folder/name.gz``, whichever exists, else ``None``."""
    for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def require_file(folder: Path, name: str) -> Path:
    """Like :func:`resolve_file` but raise ``FileNotFoundError`` saying what was looked for."""
    found = resolve_file(folder, name)
    if found is None:
        raise FileNotFoundError(
            f"neither {Path(folder) / name} nor {Path(folder) / name}.gz exists; "
            f"point dataset.path at the folder holding {name}"
        )
    return found


__all__ = ["DataFileError", "extract", "fetch", "open_text", "require_file", "resolve_file", "sha256sum"]
