"""Opening dataset files, plain or gzipped, and the error every parser raises.

Every loader reads through :func:`open_text` (or finds its files with :func:`resolve_file` /
:func:`require_file`), so a truncated gzip, an undecodable byte or a missing file is reported
the same way everywhere: as a :class:`DataFileError` naming the file and, where known, the line.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# what a damaged compressed file raises while it is read
CORRUPT_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, tarfile.ReadError)


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


def corrupt_error(path: Path, err: BaseException) -> DataFileError:
    """The error for a damaged compressed file or archive: say it is truncated or corrupt, and what to do."""
    if isinstance(err, EOFError) or "truncated" in str(err).lower() or "unexpected end" in str(err).lower():
        problem = "is truncated (the compressed data ends early: an interrupted download or copy)"
    elif isinstance(err, zipfile.BadZipFile):
        problem = f"is not a valid zip archive ({err})"
    else:
        problem = f"is corrupt ({type(err).__name__}: {err})"
    return DataFileError(path, f"the file {problem}; download it again, or delete it so that the next run fetches it")


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes (a ``.gz`` name is not trusted either way)."""
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
        self.gzipped = is_gzip(path)
        raw = gzip.open(path, "rb") if self.gzipped else open(path, "rb")
        self._text = io.TextIOWrapper(raw, encoding=encoding)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._text
        except (*CORRUPT_ERRORS, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def read(self, size: int = -1) -> str:
        try:
            return self._text.read(size)
        except (*CORRUPT_ERRORS, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def readline(self) -> str:
        try:
            return self._text.readline()
        except (*CORRUPT_ERRORS, UnicodeDecodeError) as err:
            raise self._error(err) from err

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> TextFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, err: BaseException) -> DataFileError:
        if not isinstance(err, UnicodeDecodeError):
            return corrupt_error(self.path, err)
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
        except (OSError, *CORRUPT_ERRORS):
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
    "CORRUPT_ERRORS",
    "DataFileError",
    "TextFile",
    "corrupt_error",
    "is_gzip",
    "open_text",
    "require_file",
    "resolve_file",
]
