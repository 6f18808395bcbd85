"""Fetching, verifying and unpacking dataset files.

Downloads go through ``urllib`` (``http(s)://`` and ``file://`` URLs), land in a temporary
file beside the destination and are renamed into place only when complete and verified,
so an interrupted or tampered download never leaves a file under the final name. Opening
and reading the files is :mod:`recsys_pyg.data.files`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recsys_pyg.data.files import CORRUPT_ERRORS, DataFileError, corrupt_error, is_gzip, resolve_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes, MD5 by default (every pinned dataset checksum is one).

    ``algorithm`` names any :mod:`hashlib` algorithm: :func:`fetch` passes ``"sha256"`` for a SHA-256 pin.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's content: of the decompressed bytes when it is gzipped, else of the file."""
    path = Path(path)
    if not is_gzip(path):
        return file_digest(path, algorithm)
    digest = hashlib.new(algorithm)
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    except CORRUPT_ERRORS as err:
        raise corrupt_error(path, err) from err
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None = None, timeout: float = 30.0, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (atomically), verify it against ``sha256`` or ``md5``, and return ``dest``.

    An existing ``dest`` is reused without downloading when it matches the checksum (or when
    none is given); one that does not match is downloaded again. Nothing under ``dest`` is
    ever left unverified. Progress is shown with tqdm when the size is known.

    Raises:
        RuntimeError: the URL cannot be reached; the message says where to put the file by hand.
        DataFileError: the download does not match the checksum (it is deleted; a ``ValueError``).
    """
    dest = Path(dest)
    algorithm, pinned = ("md5", md5) if md5 else ("sha256", sha256)
    expected = pinned.strip().lower() if pinned else None
    hint = ""
    if dest.is_file():
        if expected is None:
            return dest
        actual = file_digest(dest, algorithm)
        if actual == expected:
            return dest
        log.warning("%s has %s %s, expected %s: downloading it again from %s", dest, algorithm, actual, expected, url)
        hint = f" (the {dest.name} already there has {algorithm} {actual}, expected {expected}: replace it)"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(url, out, dest, timeout, hint)
        if expected is not None:
            actual = file_digest(tmp, algorithm)
            if actual != expected:
                raise DataFileError(
                    dest,
                    f"checksum mismatch for the download from {url}: got {algorithm} {actual}, expected "
                    f"{algorithm} {expected}; the download was deleted and nothing was used. If the publisher "
                    f"changed the file, check it and update the checksum in the dataset config (dataset.download); "
                    f"or put a verified copy at {dest}",
                )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _file_specs(files: Mapping[str, Any], base_url: str | None) -> list[tuple[str, str | None, str, str | None]]:
    """``(file name, url or None, algorithm, expected digest or None)`` for each entry of a dataset's ``files``."""
    specs: list[tuple[str, str | None, str, str | None]] = []
    for file_name, entry in files.items():
        if isinstance(entry, str):  # a bare URL, no checksum
            specs.append((file_name, entry, "md5", None))
            continue
        file_url = entry.get("url") or (f"{base_url.rstrip('/')}/{file_name}" if base_url else None)
        algorithm = "md5" if entry.get("md5") else "sha256"
        expected = entry.get(algorithm)
        specs.append((file_name, file_url, algorithm, str(expected).strip().lower() if expected else None))
    return specs


def _unverified(name: str, what: str) -> ValueError:
    return ValueError(
        f"dataset {name}: {what} has no pinned checksum, so its download cannot be verified. Add its md5 to "
        f"dataset.download, set dataset.download.verify=false to use it unverified, or give a local copy with "
        f"dataset.path=..."
    )


def fetch_files(
    name: str, root: Path, files: Mapping[str, Any], base_url: str | None = None, verify: bool = True
) -> Path:
    """Fetch a dataset published as loose files into ``root``, each verified before use; return ``root``.

    Args:
        name: the dataset, for messages.
        root: the folder the files go to.
        files: file name -> ``{md5: ...}`` or ``{sha256: ...}`` (its URL is ``base_url/<name>``, or
            ``url:`` in the entry), or a bare URL (no checksum).
        base_url: where the files are published.
        verify: refuse a file without a checksum (before downloading anything). With ``False``,
            nothing is checked and the files' md5 are logged.

    Files already in ``root`` are checked again on every call (cheap) and fetched anew on a mismatch.
    """
    specs = _file_specs(files, base_url)
    for file_name, file_url, _, expected in specs:
        if not file_url:
            raise ValueError(f"dataset {name}: no URL for {file_name}: set dataset.download.base_url or its url")
        if verify and expected is None:
            raise _unverified(name, f"{file_name} ({file_url})")
    for file_name, file_url, algorithm, expected in specs:
        assert file_url is not None
        fetch(file_url, Path(root) / file_name, **({algorithm: expected} if verify else {}))
    if not verify:
        digests = {f: file_digest(Path(root) / f, "md5") for f, *_ in specs}
        log.warning("%s: using unverified files (dataset.download.verify=false); their md5 are %s", name, digests)
    return Path(root)


def fetch_archive(
    name: str,
    root: Path,
    url: str,
    md5: str | None = None,
    sha256: str | None = None,
    subdir: str | None = None,
    verify: bool = True,
) -> Path:
    """Fetch an archive into ``root``, verify it, unpack it there once; return ``root/subdir``.

    Without a checksum the download is refused unless ``verify`` is false (then its md5 is logged).
    """
    root = Path(root)
    if verify and not (md5 or sha256):
        raise _unverified(name, url)
    folder = root / subdir if subdir else root
    done = root / ".complete"  # written once the verified archive is unpacked
    if done.exists():
        return folder
    archive = fetch(url, root / Path(url).name, **({"sha256": sha256, "md5": md5} if verify else {}))
    if not verify:
        log.warning("%s: using an unverified download; %s has md5 %s", name, archive, file_digest(archive, "md5"))
    extract(archive, root)
    done.touch()
    return folder


def check_local_copy(name: str, folder: Path, files: Mapping[str, Any], base_url: str | None = None) -> bool:
    """Compare a local copy (plain or gzipped) with the published files' checksums; warn on a mismatch.

    Returns whether every file present with a checksum matched. A mismatch is not an error: the
    copy may be a deliberate variant, but its results will not compare with published ones.
    """
    same = True
    for file_name, _, algorithm, expected in _file_specs(files, base_url):
        found = resolve_file(Path(folder), file_name)
        if found is None or expected is None:
            continue
        actual = content_digest(found, algorithm)
        if actual != expected:
            same = False
            log.warning(
                "%s: %s has %s %s, but the published %s has %s: results on it will not compare with published ones",
                name,
                found,
                algorithm,
                actual,
                file_name,
                expected,
            )
    return same


def _download(url: str, out: io.BufferedWriter, dest: Path, timeout: float, hint: str = "") -> None:
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
            f"elsewhere and put it at {dest}{hint}, or point the config at a local copy with dataset.path=..."
        ) from e


def _safe_target(dest_dir: Path, name: str, archive: Path) -> Path:
    """The path an archive member extracts to; refuse members that escape ``dest_dir``."""
    parts = re.split(r"[\\/]", name)
    target = (dest_dir / name).resolve()
    if (
        os.path.isabs(name)
        or name.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", name)  # a Windows drive
        or ".." in parts
        or not target.is_relative_to(dest_dir)
    ):
        raise DataFileError(
            archive,
            f"archive member {name!r} would extract outside {dest_dir} (an absolute path or '..'); refusing to "
            f"unpack anything. Delete {archive} and check dataset.download.url",
        )
    return target


def extract(archive: Path, dest_dir: Path) -> Path:
    """Unpack a ``.zip``, ``.tar.gz``/``.tgz`` or ``.tar`` archive into ``dest_dir`` and return ``dest_dir``.

    Members with absolute paths, ``..`` components or links pointing outside ``dest_dir``
    raise :class:`DataFileError` before anything is written; so does a corrupt or truncated archive.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    name = archive.name.lower()
    if not name.endswith((".zip", ".tar.gz", ".tgz", ".tar")):
        raise ValueError(f"cannot extract {archive}: expected a .zip, .tar.gz, .tgz or .tar archive")
    dest_dir.mkdir(parents=True, exist_ok=True)
    root = dest_dir.resolve()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for entry in zf.namelist():
                    _safe_target(root, entry, archive)
                zf.extractall(root)
        else:
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
    except CORRUPT_ERRORS as err:
        raise corrupt_error(archive, err) from err
    return dest_dir


__all__ = [
    "check_local_copy",
    "content_digest",
    "extract",
    "fetch",
    "fetch_archive",
    "fetch_files",
    "file_digest",
]
