"""Bytes of a text delivery -> lines of text: compression, encoding, binary content.

Exports arrive gzip-compressed or not, in UTF-8 (with or without a byte-order mark),
UTF-16 (with a BOM, or without one: then every other byte of ASCII text is NUL),
Windows-1252 (the "ANSI" of European Windows tools: € is 0x80) or Latin-1, and
sometimes mixed (one pasted line in another encoding). Lines are decoded one by
one: UTF-8 when they are valid UTF-8, else Windows-1252 (Latin-1 for the five bytes
Windows-1252 leaves undefined), so one odd line does not garble the file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cx.ingest.rejects import UnreadableFile

SNIFF_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_CONTROL = set(range(32)) - {9, 10, 12, 13}


@dataclass(frozen=True)
class TextShape:
    compressed: bool
    encoding: str  # utf-8, utf-8-sig, utf-16-le, utf-16-be or "8-bit" (per line, see module doc)
    bom: bool
    line_break: bytes  # b"\n" (LF and CRLF) or b"\r" (old Mac files)

    @property
    def plain_utf8(self) -> bool:
        """DuckDB can read the file as it is."""
        return not self.compressed and not self.bom and self.encoding == "utf-8"


def _open(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _head(path: Path, compressed: bool) -> bytes:
    try:
        with _open(path, compressed) as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"corrupt gzip stream ({type(exc).__name__})") from None


def sniff(path: Path, compressed: bool) -> TextShape:
    """How to decode the file; raises :class:`UnreadableFile` for binary content."""
    with path.open("rb") as handle:
        magic = handle.read(2)
    if magic == _GZIP_MAGIC and not compressed:
        compressed = True  # a gzip stream without the .gz extension
    head = _head(path, compressed)
    if head.startswith(codecs.BOM_UTF8):
        return TextShape(compressed, "utf-8-sig", True, _line_break(head[3:]))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return TextShape(compressed, encoding, True, b"\n")
    if b"\x00" in head:
        # UTF-16 without a BOM: ASCII characters leave NUL in every other byte.
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return TextShape(compressed, "utf-16-le", False, b"\n")
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return TextShape(compressed, "utf-16-be", False, b"\n")
        raise UnreadableFile("binary content (NUL bytes): not delimited text or JSON lines")
    if head and sum(1 for b in head if b in _CONTROL) > 0.05 * len(head):
        raise UnreadableFile("binary content (control bytes): not delimited text or JSON lines")
    return TextShape(compressed, "utf-8", False, _line_break(head))


def _line_break(head: bytes) -> bytes:
    return b"\r" if b"\r" in head and b"\n" not in head else b"\n"


def _decode_8bit(raw: bytes) -> tuple[str, bool]:
    """(text, was UTF-8) of one line."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252"), False
        except UnicodeDecodeError:
            return raw.decode("latin-1"), False


class Lines:
    """The file's physical lines, each with its line break kept ("" at the end of
    the file); ``encoding`` tells afterwards what the lines were decoded from."""

    def __init__(self, path: Path, shape: TextShape) -> None:
        self.path = path
        self.shape = shape
        self._utf8 = 0
        self._other = 0

    @property
    def encoding(self) -> str:
        if self.shape.encoding not in ("utf-8", "utf-8-sig"):
            return self.shape.encoding
        if self._other and self._utf8:
            return "mixed utf-8/windows-1252"
        return "windows-1252" if self._other else self.shape.encoding

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._lines()
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"corrupt gzip stream ({type(exc).__name__})") from None

    def _lines(self) -> Iterator[str]:
        shape = self.shape
        self._utf8 = self._other = 0
        with _open(self.path, shape.compressed) as raw:
            if shape.encoding.startswith("utf-16"):
                text = io.TextIOWrapper(raw, encoding=shape.encoding, errors="replace", newline="")
                first = True
                for line in text:
                    if first:
                        line, first = line.removeprefix("\ufeff"), False
                    yield line
                return
            skip_bom = shape.bom
            buffered = io.BufferedReader(raw) if shape.line_break == b"\n" else None
            chunks = buffered if buffered is not None else _split_cr(raw)
            for chunk in chunks:
                if skip_bom:
                    chunk, skip_bom = chunk.removeprefix(codecs.BOM_UTF8), False
                if chunk.isascii():
                    yield chunk.decode("ascii")
                    continue
                line, utf8 = _decode_8bit(chunk)
                if utf8:
                    self._utf8 += 1
                else:
                    self._other += 1
                yield line


def _split_cr(raw) -> Iterator[bytes]:
    rest = b""
    while block := raw.read(SNIFF_BYTES):
        parts = (rest + block).split(b"\r")
        rest = parts.pop()
        for part in parts:
            yield part + b"\r"
    if rest:
        yield rest
