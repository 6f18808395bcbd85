"""Fetching, verifying, unpacking and opening dataset files, and the error every parser raises.

Downloads go through ``urllib`` (``http(s)://`` and ``file://`` URLs), land in a temporary
file beside the destination and are renamed into place only when complete and verified,
so an interrupted or tampered download never leaves a file under the final name.
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
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# what a damaged compressed file raises while it is read
_CORRUPT = (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, tarfile.ReadError)


class DataFileError(ValueError):
    """Bad input in a data file; ``str(err)`` reads ``"{path}, line {line}: {problem}"``.

    Pickles and copies whole, so it survives ``copy.copy``, ``pickle`` and worker processes.

    Args:
        path: the file at fault.
        problem: what is wrong and how to fix it.
        line: 1-based line number, or ``None`` when the problem concerns the whole file.
    """

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # the default rebuilds from self.args (the message alone), which this signature cannot take
        return type(self), (self.path, self.problem, self.line), self.__dict__


def sha256sum(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (SHA-256 unless ``algorithm`` names another hashlib algorithm)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's content: of the decompressed bytes when it is gzipped, else of the file."""
    path = Path(path)
    if not _is_gzip(path):
        return sha256sum(path, algorithm)
    digest = hashlib.new(algorithm)
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    except _CORRUPT as err:
        raise _corrupt_error(path, err) from err
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
        actual = sha256sum(dest, algorithm)
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
            actual = sha256sum(tmp, algorithm)
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
        digests = {f: sha256sum(Path(root) / f, "md5") for f, *_ in specs}
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
        log.warning("%s: using an unverified download; %s has md5 %s", name, archive, sha256sum(archive, "md5"))
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
    except _CORRUPT as err:
        raise _corrupt_error(archive, err) from err
    return dest_dir


def _corrupt_error(path: Path, err: BaseException) -> DataFileError:
    """The error for a damaged compressed file or archive: say it is truncated or corrupt, and what to do."""
    if isinstance(err, EOFError) or "truncated" in str(err).lower() or "unexpected end" in str(err).lower():
        problem = "is truncated (the compressed data ends early: an interrupted download or copy)"
    elif isinstance(err, zipfile.BadZipFile):
        problem = f"is not a valid zip archive ({err})"
    else:
        problem = f"is corrupt ({type(err).__name__}: {err})"
    return DataFileError(path, f"the file {problem}; download it again, or delete it so that the next run fetches it")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _check_is_file(path: Path) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, expected a file: point the config at the file itself")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: put the file there, or point the config at where it is")


class TextFile:
    """A text file open for reading (see :func:`open_text`) whose read errors become :class:`DataFileError`.

    Iterate it for lines (newlines kept, as with a file object); ``read`` and ``readline`` as usual.
    """

    def __init__(self, path: Path, encoding: str) -> None:
        self.path, self.encoding = path, encoding
        self.gzipped = _is_gzip(path)
        raw = gzip.open(path, "rb") if self.gzipped else open(path, "rb")
        self._text = io.TextIOWrapper(raw, encoding=encoding)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._text
        except (*_CORRUPT, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def read(self, size: int = -1) -> str:
        try:
            return self._text.read(size)
        except (*_CORRUPT, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def readline(self) -> str:
        try:
            return self._text.readline()
        except (*_CORRUPT, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> TextFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, err: BaseException) -> DataFileError:
        if not isinstance(err, UnicodeDecodeError):
            return _corrupt_error(self.path, err)
        byte = err.object[err.start : err.start + 1].hex()
        return DataFileError(
            self.path,
            f"not {self.encoding} text (byte 0x{byte} cannot be decoded). If it is text in another encoding, "
            f"save it as {self.encoding} or pass that encoding to the loader (e.g. +dataset.source.encoding=latin-1 "
            f"for a table); if it is not a text file, point the config at the right file",
            self._undecodable_line(),
        )

    def _undecodable_line(self) -> int | None:
        """1-based number of the first line that does not decode (found again in binary; ``None`` if it cannot be)."""
        try:
            with gzip.open(self.path, "rb") if self.gzipped else open(self.path, "rb") as raw:
                for lineno, line in enumerate(raw, 1):
                    try:
                        line.decode(self.encoding)
                    except UnicodeDecodeError:
                        return lineno
        except (OSError, *_CORRUPT):
            pass
        return None


def open_text(path: Path, encoding: str = "utf-8") -> TextFile:
    """Open a text file for reading, plain or gzip-compressed (detected from its magic bytes).

    Reading a truncated or corrupt ``.gz``, or bytes that are not ``encoding`` text, raises
    :class:`DataFileError` naming the file (and the line, for an undecodable one).
    MovieLens files need ``encoding="latin-1"``.

    Raises:
        FileNotFoundError / IsADirectoryError: ``path`` is missing or is a folder.
    """
    path = Path(path)
    _check_is_file(path)
    return TextFile(path, encoding)


def resolve_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or its gzipped twin ``folder/name.gz``, whichever exists, else ``None``.

    Raises:
        IsADirectoryError: the name is taken by a folder.
    """
    for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
        if candidate.is_dir():
            raise IsADirectoryError(f"{candidate} is a folder, expected the file {name}: put the file there instead")
        if candidate.is_file():
            return candidate
    return None


def require_file(folder: Path, name: str) -> Path:
    """Like :func:`resolve_file`, but raise an error that says which file to put where."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist; point dataset.path at the folder holding {name}")
    if not folder.is_dir():
        raise NotADirectoryError(
            f"{folder} is a file, but {name} is looked for in a folder: point dataset.path at the folder holding {name}"
        )
    found = resolve_file(folder, name)
    if found is None:
        raise FileNotFoundError(
            f"{name} is missing from {folder} (looked for {folder / name} and {folder / name}.gz): put {name} "
            f"(plain or gzipped) there, or point dataset.path at the folder holding it"
        )
    return found


__all__ = [
    "DataFileError",
    "TextFile",
    "check_local_copy",
    "content_digest",
    "extract",
    "fetch",
    "fetch_archive",
    "fetch_files",
    "open_text",
    "require_file",
    "resolve_file",
    "sha256sum",
]
