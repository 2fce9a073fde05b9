r"""Reading tables of numbers from files, whole or in chunks: ``.npy`` (through a memory map, one window per
chunk), ``.npz``, ``.csv`` / ``.tsv`` and whitespace-separated text (``.txt``, ``.data``, gzip-compressed too).

Text tables may start with a header row naming the columns (``header="auto"``: a first row that does not parse as
numbers is a header). An identifier column (``id_column``, a header name or a 0-based position) is kept apart from
the features and carried into the outputs. Every way a file can be wrong gives a :class:`TableFormatError` that
names the file, the line, the column and what to do: an empty file, a row with another number of fields, a
non-numeric or missing value.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pyagc.data.paths import missing_file_error

__all__ = ["TableFile", "TableChunk", "TableFormatError", "parse_header_option", "load_labels"]

TEXT_DEFAULT_CHUNK = 65536


class TableFormatError(ValueError):
    """A table file that cannot be read as numbers; the message names the file, line, column and the fix."""


@dataclass
class TableChunk:
    """Rows ``start .. start + len(x) - 1`` of a table: features ``x`` (float64) and their identifiers (or ``None``)."""

    x: np.ndarray
    ids: list[str] | None
    start: int


def parse_header_option(header: Any) -> str | bool:
    """``"auto"``, ``True`` or ``False`` from a config value (``auto``, ``true``/``false``, ``yes``/``no``, 1/0)."""
    if isinstance(header, bool):
        return header
    text = str(header).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", "none", "null"):
        return False
    raise ValueError(
        f"header={header!r} is not valid: use auto (a first row that is not numbers is a header), "
        "true (the first row names the columns) or false (no header)."
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _quoted(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


class TableFile:
    r"""A table of numbers in a file, read whole (:meth:`read_all`) or in chunks (:meth:`chunks`).

    Args:
        path: ``.npy`` / ``.npz`` (numbers only), ``.csv`` (comma-separated), ``.tsv`` (tab-separated), or any
            other text file of whitespace-separated numbers (``.txt``, ``.data``; ``.gz`` compressed too).
        header: text files only: ``"auto"`` (default: the first row is a header when a value of it outside the ID
            column does not parse as a number), ``True`` or ``False``.
        id_column: a column that identifies the rows (a header name, or a 0-based position): read as text, kept
            out of the features, returned with each chunk.
        what: how messages name the file (default ``data file <path>``).
    """

    def __init__(
        self, path: str | Path, header: Any = "auto", id_column: str | int | None = None, what: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.header_option = parse_header_option(header)
        self.id_column = None if id_column is None or str(id_column).strip() == "" else id_column
        self.what = what or f"data file {path}"
        self.names: list[str] | None = None  # all columns of the header, in file order
        self.n_rows: int | None = None  # known up front for .npy / .npz only
        self.n_columns = 0
        self.id_index: int | None = None
        self.order: list[int] | None = None  # the model's column order, as positions among the feature columns
        self._array: np.ndarray | None = None
        self._npy: tuple[tuple[int, ...], np.dtype, int] | None = None  # shape, dtype, data offset
        self._data_line = 1  # 1-based line number of the first data line
        if not self.path.is_file():
            if self.path.is_dir():
                raise FileNotFoundError(f"{self.what} is a folder; give the table file inside it.")
            raise missing_file_error(self.path, self.what[:1].upper() + self.what[1:])
        suffixes = [s.lower() for s in self.path.suffixes]
        self.format = (
            "npy" if self.path.suffix.lower() == ".npy" else "npz" if self.path.suffix.lower() == ".npz" else "text"
        )
        self.delimiter = "," if ".csv" in suffixes else "\t" if ".tsv" in suffixes else None
        self.compressed = self.path.suffix.lower() == ".gz"
        if self.format == "text":
            self._read_text_header()
        else:
            self._read_array_header()
        self.feature_index = [j for j in range(self.n_columns) if j != self.id_index]

    # ------------------------------------------------------------------ what the file holds
    @property
    def id_name(self) -> str | None:
        """The ID column's name (its header name, else ``id``), or ``None`` without one."""
        if self.id_index is None:
            return None
        return self.names[self.id_index] if self.names is not None else "id"

    @property
    def columns(self) -> list[str] | None:
        """Names of the feature columns (header names without the ID column), in file order; ``None`` without a
        header.
        """
        return None if self.names is None else [self.names[j] for j in self.feature_index]

    @property
    def n_features(self) -> int:
        return len(self.feature_index)

    def use_order(self, order: list[int] | None) -> None:
        """Return the feature columns in this order (positions among :attr:`columns`), e.g. the model's."""
        self.order = None if order is None else list(order)

    # ------------------------------------------------------------------ opening
    def _open_text(self) -> io.TextIOBase:
        if self.compressed:
            return io.TextIOWrapper(gzip.open(self.path, "rb"), encoding="utf-8-sig", errors="replace")
        return open(self.path, encoding="utf-8-sig", errors="replace", newline=None)

    @property
    def _comments(self) -> str | None:
        return None if self.delimiter is not None else "#"

    def _skip(self, line: str) -> bool:
        s = line.strip()
        return not s or (self._comments is not None and s.startswith(self._comments))

    def _split(self, line: str) -> list[str]:
        if self.delimiter is None:
            return line.split()
        return next(csv.reader([line], delimiter=self.delimiter, quotechar='"'), [])

    def _read_text_header(self) -> None:
        first, line_no = None, 0
        try:
            with self._open_text() as f:
                for line_no, line in enumerate(f, start=1):  # noqa: B007 (used after the loop)
                    if not self._skip(line):
                        first = line
                        break
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise TableFormatError(f"{self.what} cannot be read ({type(e).__name__}: {e}).") from None
        if first is None:
            raise TableFormatError(f"{self.what} is empty: it holds no rows. Give a file with one row per sample.")
        fields = [f.strip() for f in self._split(first)]
        if self.delimiter is not None and len(fields) == 1:
            other = next((d for d in (";", "\t", "|") if d != self.delimiter and d in first), None)
            if other is not None:
                raise TableFormatError(
                    f"{self.what} seems to separate its values with {other!r} (its first line is "
                    f"{_quoted(first.strip())}), but a {self.path.suffix} file is read as "
                    f"{'comma' if self.delimiter == ',' else 'tab'}-separated. Save it comma-separated (.csv) or "
                    "tab-separated (.tsv)."
                )
        self.n_columns = len(fields)
        position = self._id_position(len(fields))
        option = self.header_option
        if option == "auto":
            values = [v for j, v in enumerate(fields) if j != position]
            option = not all(_is_number(v) for v in values)
        if option:
            self.names = [f if f else f"column_{j + 1}" for j, f in enumerate(fields)]
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            if dupes:
                raise TableFormatError(
                    f"{self.what}: the header names columns {dupes} more than once; give every column its own name."
                )
            self._data_line = line_no + 1
        else:
            self._data_line = line_no
        self._resolve_id()
        self.feature_index = [j for j in range(self.n_columns) if j != self.id_index]
        if self.n_features == 0:
            raise TableFormatError(
                f"{self.what} has no feature columns besides the ID column "
                f"{self.id_name!r}; give a table with at least one numeric column."
            )

    def _id_position(self, n_columns: int) -> int | None:
        """The ID column's position when it is given as a position (for header detection)."""
        value = self.id_column
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
        return None

    def _resolve_id(self) -> None:
        value = self.id_column
        if value is None:
            return
        if self.names is not None and str(value) in self.names:
            self.id_index = self.names.index(str(value))
            return
        position = self._id_position(self.n_columns)
        if position is not None:
            if not 0 <= position < self.n_columns:
                raise TableFormatError(
                    f"id_column={value} is not a column of {self.what}: it has {self.n_columns} "
                    f"columns (positions 0 to {self.n_columns - 1})."
                )
            self.id_index = position
            return
        if self.names is None:
            raise TableFormatError(
                f"id_column={value!r} names a column, but {self.what} has no header row naming its "
                "columns. Add a header (or set data.header=true if the first row is one), or give "
                "the column's 0-based position, e.g. data.id_column=0."
            )
        raise TableFormatError(
            f"id_column={value!r} is not a column of {self.what}; its columns are "
            f"{self.names[:20]}{' ...' if len(self.names) > 20 else ''}."
        )

    def _read_array_header(self) -> None:
        if self.id_column is not None:
            raise TableFormatError(
                f"id_column={self.id_column!r}: {self.what} is a NumPy file of numbers only, with "
                "no ID column; the row number identifies each row. Use a CSV file with a header "
                "to carry identifiers."
            )
        if self.header_option is True:
            raise TableFormatError(f"header=true: {self.what} is a NumPy file, which has no header row.")
        try:
            if self.format == "npy":
                with open(self.path, "rb") as f:
                    version = np.lib.format.read_magic(f)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read(f)
                    offset = f.tell()
                if fortran or dtype.hasobject or len(shape) not in (1, 2):
                    self._array = np.load(self.path, mmap_mode="r", allow_pickle=False) if not dtype.hasobject else None
                    if dtype.hasobject:
                        raise TableFormatError(
                            f"{self.what} holds Python objects, not numbers; save a numeric "
                            "array (e.g. np.save(path, x.astype('float32')))."
                        )
                else:
                    self._npy = (tuple(shape), dtype, offset)
            else:
                with np.load(self.path, allow_pickle=False) as z:
                    if not z.files:
                        raise TableFormatError(f"{self.what} is an empty .npz archive (no arrays).")
                    self._array = z[z.files[0]]
                shape, dtype = self._array.shape, self._array.dtype
        except TableFormatError:
            raise
        except (ValueError, OSError, EOFError) as e:
            raise TableFormatError(f"{self.what} is not a readable NumPy file ({type(e).__name__}: {e}).") from None
        if dtype.kind not in "fiub":
            raise TableFormatError(f"{self.what} holds values of type {dtype}, not numbers; save a numeric array.")
        if len(shape) not in (1, 2):
            raise TableFormatError(
                f"{self.what} holds an array of shape {tuple(shape)}; a table needs (rows, features)"
                " (or one feature per row: (rows,))."
            )
        self.n_rows = int(shape[0])
        self.n_columns = int(shape[1]) if len(shape) == 2 else 1
        if self.n_rows == 0:
            raise TableFormatError(f"{self.what} is empty: its array has no rows.")

    # ------------------------------------------------------------------ reading
    def chunks(self, rows: int = TEXT_DEFAULT_CHUNK) -> Iterator[TableChunk]:
        """The table in chunks of at most ``rows`` rows (features as float64), in file order. Memory stays
        bounded by one chunk whatever the file's size.
        """
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}.")
        source = self._array_chunks(rows) if self.format != "text" else self._text_chunks(rows)
        for chunk in source:
            if self.order is not None:
                chunk.x = chunk.x[:, self.order]
            yield chunk

    def read_all(self) -> tuple[np.ndarray, list[str] | None]:
        """The whole table: features ``(N, F)`` as float32 and the identifiers (or ``None``)."""
        xs, ids = [], []
        for chunk in self.chunks():
            xs.append(chunk.x.astype(np.float32))
            if chunk.ids is not None:
                ids.extend(chunk.ids)
        x = np.concatenate(xs) if len(xs) > 1 else xs[0]
        return x, (ids if self.id_index is not None else None)

    def _array_chunks(self, rows: int) -> Iterator[TableChunk]:
        n = self.n_rows
        if self._npy is not None:
            shape, dtype, offset = self._npy
            width = int(shape[1]) if len(shape) == 2 else 1
            row_bytes = width * dtype.itemsize
            for start in range(0, n, rows):
                stop = min(n, start + rows)
                # a fresh map of this window only, dropped after the copy: nothing stays resident
                window = np.memmap(
                    self.path, dtype=dtype, mode="r", offset=offset + start * row_bytes, shape=(stop - start, width)
                )
                x = np.array(window, dtype=np.float64)
                del window
                yield TableChunk(x, None, start)
            return
        array = self._array
        for start in range(0, n, rows):
            part = np.asarray(array[start : start + rows], dtype=np.float64)
            yield TableChunk(part.reshape(len(part), -1), None, start)

    def _text_chunks(self, rows: int) -> Iterator[TableChunk]:
        start_row = 0
        with self._open_text() as f:
            for _ in range(self._data_line - 1):
                next(f, None)
            line_no = self._data_line
            while True:
                lines = list(itertools.islice(f, rows))
                if not lines:
                    break
                x, ids = self._parse(lines, line_no, start_row)
                line_no += len(lines)
                if len(x):
                    yield TableChunk(x, ids, start_row)
                    start_row += len(x)
        if start_row == 0:
            if self.names is not None:
                raise TableFormatError(
                    f"{self.what} has a header ({', '.join(self.names[:8])}"
                    f"{', ...' if len(self.names) > 8 else ''}) but no data rows."
                )
            raise TableFormatError(f"{self.what} is empty: it holds no rows.")

    def _parse(self, lines: list[str], line_no: int, start_row: int) -> tuple[np.ndarray, list[str] | None]:
        kwargs: dict[str, Any] = {"delimiter": self.delimiter, "comments": self._comments, "ndmin": 2}
        if self.delimiter is not None:
            kwargs["quotechar"] = '"'
        usecols = self.feature_index if self.id_index is not None else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": blank lines only
                x = np.loadtxt(lines, dtype=np.float64, usecols=usecols, **kwargs)
        except ValueError as e:
            self._diagnose(lines, line_no, start_row)
            raise TableFormatError(
                f"{self.what}: lines {line_no}-{line_no + len(lines) - 1} cannot be read as numbers ({e})."
            ) from None
        if x.size == 0:
            x = x.reshape(0, len(self.feature_index))
        if usecols is not None or x.shape[1] != self.n_columns:
            self._check_widths(lines, line_no, start_row)
        ids = None
        if self.id_index is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                raw = np.loadtxt(lines, dtype=str, usecols=[self.id_index], **kwargs).reshape(-1)
            ids = [str(v).strip() for v in raw]
        return x, ids

    def _rows(self, lines: list[str], line_no: int, start_row: int) -> Iterator[tuple[int, int, list[str]]]:
        row = start_row
        for k, line in enumerate(lines):
            if self._skip(line):
                continue
            row += 1
            yield line_no + k, row, self._split(line)

    def _width_error(self, line: int, row: int, n: int) -> TableFormatError:
        ref = "the header names" if self.names is not None else "the first row has"
        hint = ""
        if n == 1 and self.delimiter == ",":
            hint = " If the file separates values with ';' or tabs, save it comma-separated (or as .tsv for tabs)."
        return TableFormatError(
            f"{self.what}: line {line} (data row {row}) has {n} values, but {ref} "
            f"{self.n_columns} columns. Every row needs one value per column.{hint}"
        )

    def _check_widths(self, lines: list[str], line_no: int, start_row: int) -> None:
        for line, row, fields in self._rows(lines, line_no, start_row):
            if len(fields) != self.n_columns:
                raise self._width_error(line, row, len(fields))

    def _column_name(self, j: int) -> str:
        if self.names is not None:
            return f"column {self.names[j]!r} (column {j + 1} of {self.n_columns})"
        return f"column {j + 1} of {self.n_columns} (0-based position {j}; the file has no header)"

    def _diagnose(self, lines: list[str], line_no: int, start_row: int) -> None:
        """Raise the :class:`TableFormatError` that says which value of ``lines`` is not a number, and why."""
        for line, row, fields in self._rows(lines, line_no, start_row):
            if len(fields) != self.n_columns:
                raise self._width_error(line, row, len(fields))
            for j in self.feature_index:
                value = fields[j].strip()
                if value == "":
                    raise TableFormatError(
                        f"{self.what}: {self._column_name(j)} has no value in line {line} (data row {row}): a "
                        "missing value. pyagc needs every feature of every row: fill the gaps (e.g. "
                        "sklearn.impute.SimpleImputer) or drop those rows."
                    )
                if not _is_number(value):
                    if row == 1 and self.names is None:
                        hint = " If the first row names the columns, it is a header: set data.header=true (or auto)."
                    else:
                        hint = (
                            f" If it identifies the rows, name it as the ID column: "
                            f"data.id_column={self.names[j] if self.names is not None else j}."
                        )
                    raise TableFormatError(
                        f"{self.what}: {self._column_name(j)} is not numeric: line {line} (data row {row}) holds "
                        f"{_quoted(value)}. pyagc clusters numbers only: drop the column or encode it as numbers "
                        f"(e.g. one column per category).{hint}"
                    )


def load_labels(path: str | Path, n_rows: int | None = None, what: str = "labels file") -> np.ndarray:
    """Integer labels, one per row, from a ``.npy`` / ``.npz`` / text file (a header row is skipped)."""
    table = TableFile(path, header="auto", what=f"{what} {path}")
    values, _ = table.read_all()
    if values.shape[1] != 1:
        raise TableFormatError(f"{what} {path} has {values.shape[1]} columns; it must hold one label per row.")
    y = values.ravel()
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
        raise TableFormatError(f"{what} {path} holds values that are not whole numbers; labels are class numbers.")
    if n_rows is not None and len(y) != n_rows:
        raise ValueError(f"{n_rows} samples but {len(y)} labels in {path}; the label file must have one per row.")
    return y.astype(np.int64)
