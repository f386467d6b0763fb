"""Decode a response body (identity, gzip or deflate) chunk by chunk, never past a size limit.

A compressed body is inflated with zlib's ``max_length``, so a gzip bomb stops at the limit and
is never inflated in memory. Pure: bytes in, bytes out, no network.
"""

from __future__ import annotations

import zlib

from ingest.errors import FetchError, TooLarge

CODINGS = dict.fromkeys(("", "identity"), "identity") | dict.fromkeys(("gzip", "x-gzip"), "gzip")
CODINGS["deflate"] = "deflate"


class Decoder:
    """Decodes an identity, gzip or deflate body chunk by chunk, never past ``limit`` bytes.

    ``setting`` names the limit in the message (``poll.max_bytes``, ``poll.max_article_bytes``).
    """

    def __init__(self, coding: str, limit: int, setting: str = "poll.max_bytes") -> None:
        kind = CODINGS.get(coding.strip().lower())
        if kind is None:
            raise FetchError(f"the server sent the body as {coding!r}; only gzip and deflate work")
        self.kind, self.limit, self.size, self.setting = kind, limit, 0, setting
        self._inflater: zlib._Decompress | None = None
        self._head = b""  # a compressed body's first bytes, until they say how it is encoded
        self._raw = False  # raw deflate (no zlib header), which may also be a plain body

    def feed(self, chunk: bytes) -> bytes:
        """Decoded bytes for the next raw ``chunk``."""
        if self.kind != "identity" and self._inflater is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            self._start(chunk)
        return self._inflate(chunk) if self._inflater else self._count(chunk)

    def finish(self) -> bytes:
        """The last decoded bytes; raises when a compressed body ended early."""
        if self._inflater is not None and not self._inflater.eof:
            raise FetchError(f"the {self.kind} body ended early (truncated or corrupt)")
        return self._count(self._head)

    def _start(self, head: bytes) -> None:
        if self.kind == "gzip" and head[:2] != b"\x1f\x8b":
            self.kind = "identity"  # labelled gzip but sent plain: take it as it is
        elif self.kind == "gzip":
            self._inflater = zlib.decompressobj(31)
        else:  # many servers send deflate without the zlib header
            self._raw = not (head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0)
            self._inflater = zlib.decompressobj(-15 if self._raw else 15)

    def _inflate(self, data: bytes) -> bytes:
        pieces: list[bytes] = []
        while data and self._inflater is not None:
            if self._inflater.eof:  # gzip may hold several members; other trailers are ignored
                if self.kind != "gzip" or data[:2] != b"\x1f\x8b":
                    break
                self._inflater = zlib.decompressobj(31)
            try:
                piece = self._inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                if self._raw and self.size == 0 and not pieces:
                    self._inflater, self.kind = None, "identity"  # labelled deflate but plain
                    return self._count(data)
                raise FetchError(f"the {self.kind} body is corrupt ({exc})") from exc
            self._raw = False
            pieces.append(self._count(piece))
            data = self._inflater.unused_data if self._inflater.eof else b""
        return b"".join(pieces)

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.limit:
            decoded = " once decompressed" if self.kind != "identity" else ""
            raise TooLarge(
                f"response larger than {size_text(self.limit)}{decoded} ({self.setting})"
            )
        return piece


def size_text(count: int) -> str:
    """A byte count the way messages show it: "10 MB", "512 KiB"."""
    units = (("GiB", 1024**3), ("GB", 1000**3), ("MiB", 1024**2), ("MB", 1000**2))
    for unit, factor in (*units, ("KiB", 1024), ("KB", 1000)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} bytes"
