"""Session JSON (the contract's) and HAR, written and read as JSON text, gzip-compressed or not.

Both are written and read a piece at a time, so that a session of a million frames never has a
second full copy in memory: :func:`write_session` encodes the frames of a connection in chunks
(one frame a line), and :func:`read` decodes such a file block by block, typed, straight
into :class:`~wsinspect.model.Frame` structs. A file laid out otherwise (hand-written, from an
older wsinspect, HAR) is read whole and decoded in one go, with the same checks and messages.
A name ending in ``.gz`` is written gzip-compressed; reading detects gzip by its magic bytes.
Both take an optional ``progress(done, total)`` callback (see :data:`~wsinspect.sessions.base.Progress`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import io
import os
import re
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from ..model import AppLoopBlock, Connection, Frame
from .base import FORMAT, VERSION, Progress, Session, SessionFileError, Ticker, Written, umask, unbase64
from .har import har_chunk, har_document, har_left_out, session_from_har

__all__ = ("dumps", "loads", "read", "write_session")

_BINARY_KINDS = frozenset({"binary", "ping", "pong"})

_CHUNK = 8192  # frames encoded at a time, at most

_CHUNK_BYTES = 1 << 20  # and payload bytes (their size_bytes), unless one frame has more

_BLOCK = 1 << 20  # bytes read at a time

_GZIP_MAGIC = b"\x1f\x8b"

# zlib's level 5 compresses JSON frames 8.4 times at 131 MB/s here, level 6 9.0 times at 81 MB/s:
# a million frames (270 MB) in 2 s rather than 3.3.
_GZIP_LEVEL = 5


class _Writer(Protocol):
    def write(self, data: bytes | memoryview, /) -> object: ...


class _Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


# -- writing ---------------------------------------------------------------------------------


def dumps(
    connections: list[Connection],
    exported_at: float,
    *,
    har: bool = False,
    loop_blocks: Sequence[AppLoopBlock] = (),
) -> bytes:
    """The bytes :func:`write_session` writes (before any compression), in memory."""
    out = io.BytesIO()
    _write(out, connections, exported_at, har=har, ticker=Ticker(None, 0), loop_blocks=loop_blocks)
    return out.getvalue()


def write_session(
    path: Path,
    connections: list[Connection],
    exported_at: float,
    *,
    progress: Progress | None = None,
    loop_blocks: Sequence[AppLoopBlock] = (),
) -> Written:
    """Write atomically (a temporary file, then a rename), a chunk of frames at a time.

    HAR when the name ends in ``.har`` or ``.har.gz``, gzip-compressed when it ends in ``.gz``
    (any case), session JSON otherwise, with ``loop_blocks`` (the ones no handler held; HAR has no
    place for them). ``progress(done, total)`` counts frames (:data:`Progress`). Returns what was
    written: HAR has no place for pings, pongs and closes (``Written.left_out``).
    """
    name = path.name.lower()
    compressed = name.endswith(".gz")
    har = name.removesuffix(".gz").endswith(".har")
    total = sum(len(connection.messages) for connection in connections)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SessionFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        ticker = Ticker(progress, total)
        with os.fdopen(fd, "wb") as file:
            if compressed:
                # The name in the gzip header is the file's, less ".gz" (not the temporary's).
                with gzip.GzipFile(path.name, "wb", _GZIP_LEVEL, file) as packed:
                    _write(packed, connections, exported_at, har=har, ticker=ticker, loop_blocks=loop_blocks)
            else:
                _write(file, connections, exported_at, har=har, ticker=ticker, loop_blocks=loop_blocks)
        os.chmod(temporary, 0o644 & ~umask())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise SessionFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # a failing progress callback, Ctrl-C: no temporary left behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    ticker.finish()
    left_out = har_left_out(connections) if har else {}
    return Written(path, len(connections), total - sum(left_out.values()), total, har, left_out)


_ENCODER = msgspec.json.Encoder()

_MESSAGES = b'"messages": []'  # where a connection's frames go in the skeleton of a session file

_HAR_MESSAGES = b'"_webSocketMessages": []'


def _write(
    out: _Writer,
    connections: list[Connection],
    exported_at: float,
    *,
    har: bool,
    ticker: Ticker,
    loop_blocks: Sequence[AppLoopBlock] = (),
) -> None:
    """The file: its skeleton (every list of frames empty) formatted with an indent of 1, each
    list of frames filled in, one frame a line ("{"direction": "sent", ...}," as in the contract)."""
    skeleton: object
    encode: Callable[[list[Frame]], bytes | None]
    if har:
        skeleton, marker, encode = har_document(connections, exported_at), _HAR_MESSAGES, har_chunk
    else:
        empty = [msgspec.structs.replace(connection, messages=[]) for connection in connections]
        session = Session(exported_at=exported_at, connections=empty, loop_blocks=list(loop_blocks))
        skeleton, marker, encode = session, _MESSAGES, _ENCODER.encode
    lists = [connection.messages for connection in connections]
    _fill(out, msgspec.json.format(_ENCODER.encode(skeleton), indent=1), marker, lists, encode, ticker)


def _fill(
    out: _Writer,
    skeleton: bytes,
    marker: bytes,
    lists: list[list[Frame]],
    encode: Callable[[list[Frame]], bytes | None],
    ticker: Ticker,
) -> None:
    """Write ``skeleton`` with its n-th ``marker`` (a key and an empty list) holding ``lists[n]``.

    ``encode`` makes a JSON array of a chunk of frames (``None``: nothing of it goes in the file).
    Its items go one a line: JSON escapes every newline within a string, so a line break can only
    stand between tokens, and ``}, {"key": `` (its first key) only between two items.
    """
    pieces = skeleton.split(marker)
    if len(pieces) != len(lists) + 1:  # pragma: no cover - a marker is a key and an empty list
        raise AssertionError(f"{marker!r} found {len(pieces) - 1} times for {len(lists)} lists")
    out.write(pieces[0])
    done = 0
    for before, frames, after in zip(pieces, lists, pieces[1:], strict=False):
        indent = before[before.rfind(b"\n") + 1 :]
        line = b"\n" + indent + b" "
        opened = False
        for chunk in _chunks(frames):
            done += len(chunk)
            encoded = encode(chunk)
            if encoded is None:
                ticker(done)
                continue
            body = msgspec.json.format(encoded, indent=0)  # [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
            first_key = body[1 : body.index(b":") + 2]  # {"a":
            body = body.replace(b"}, " + first_key, b"}," + line + first_key)
            out.write((b"," if opened else marker[:-1]) + line)
            out.write(memoryview(body)[1:-1])
            opened = True
            ticker(done)
        out.write(b"\n" + indent + b"]" if opened else marker)
        out.write(after)


def _chunks(frames: list[Frame]) -> Iterator[list[Frame]]:
    """``frames`` a chunk at a time: up to ``_CHUNK`` frames of ``_CHUNK_BYTES`` of payload.

    The frames of the last chunk, twice as many, are tried first, halved while too large: the
    sizes of the frames are summed about twice, whatever their sizes.
    """
    start, count = 0, 256
    while start < len(frames):
        chunk = frames[start : start + count]
        while len(chunk) > 1 and sum(frame.size_bytes for frame in chunk) > _CHUNK_BYTES:
            chunk = chunk[: len(chunk) // 2]
        yield chunk
        start += len(chunk)
        count = min(2 * len(chunk), _CHUNK)


# -- reading ---------------------------------------------------------------------------------


def read(path: Path, *, progress: Progress | None = None) -> Session:
    """A session from a session JSON or HAR file, gzip-compressed or not.

    ``progress(done, total)`` counts bytes of the file (:data:`Progress`). Whatever is wrong with
    the file is a :class:`SessionFileError` of one line that names it.
    """
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below, the errors of open() told apart
    except OSError as exc:
        raise SessionFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with file:
        try:
            if not file.seekable():  # a pipe (`wsinspect open <(zcat x.json.gz)`): read it whole first
                data = file.read()
                return _read(io.BytesIO(data), len(data), progress)
            return _read(file, os.fstat(file.fileno()).st_size, progress)
        except SessionFileError as exc:
            raise SessionFileError(f"{path}: {exc}") from None
        except OSError as exc:
            raise SessionFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def loads(data: bytes) -> Session:
    """A session from session JSON or HAR bytes, gzip-compressed or not."""
    return _read(io.BytesIO(data), len(data), None)


def _read(file: IO[bytes], total: int, progress: Progress | None) -> Session:
    """Streamed when the file is laid out as :func:`write_session` writes it, else decoded whole."""
    ticker = Ticker(progress, total)
    compressed = file.read(2) == _GZIP_MAGIC
    try:
        session: Session | None = None
        with contextlib.suppress(_Whole):  # what it read goes with the exception, before reading again
            session = _stream(_blocks(file, compressed, ticker))
        if session is None:
            whole = io.BytesIO()  # grows in place: no second copy of the file, as a join of blocks would make
            for block in _blocks(file, compressed, ticker):
                whole.write(block)
            session = _decode_whole(whole.getvalue())
    except EOFError:
        raise SessionFileError("truncated gzip: the file ends before its compressed data does") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise SessionFileError(f"corrupt gzip data: {exc}") from None
    except RecursionError:  # msgspec's decoders stop at Python's recursion limit
        raise SessionFileError("JSON nested too deeply to be read") from None
    ticker.finish()
    return session


def _blocks(file: IO[bytes], compressed: bool, ticker: Ticker) -> Iterator[bytes]:
    """The file's bytes from its start, decompressed, a block at a time."""
    file.seek(0)
    source: _Reader = gzip.GzipFile(fileobj=file, mode="rb") if compressed else file
    while block := source.read(_BLOCK):
        ticker(file.tell())
        yield block


# -- reading a file a block at a time ---------------------------------------------------------


class _Whole(Exception):
    """The file is not laid out as :func:`write_session` writes it: it is decoded whole instead."""


_HEAD_KEYS = ["format", "version", "exported_at", "connections"]

_CONNECTIONS_KEY = b'"connections": ['

_MESSAGES_KEY = b'"messages": ['

_NOT_SPACE = re.compile(rb"[^ \t\r\n]")

_LIST_END = re.compile(rb"\n[ \t\r]*\]")  # a line that starts with "]": the end of a list of frames

_HEAD_LIMIT = 1 << 16  # bytes before the connections

_META_LIMIT = 1 << 24  # bytes of a connection before its frames

_LINE_LIMIT = 1 << 28  # bytes of a line of frames (an 8 MiB payload, escaped, fits)

_ANY = msgspec.json.Decoder()

_CONNECTION = msgspec.json.Decoder(Connection)

_FRAMES = msgspec.json.Decoder(list[Frame])


class _Tail(msgspec.Struct):
    """What a session file holds after its connections."""

    loop_blocks: list[AppLoopBlock] = msgspec.field(default_factory=list)


_TAIL = msgspec.json.Decoder(_Tail)


def _stream(blocks: Iterator[bytes]) -> Session:
    """A session file laid out as :func:`write_session` writes it, read a block at a time.

    Every piece is decoded strictly (typed), so what this accepts is valid session JSON; what it
    does not expect raises :class:`_Whole`, and the whole file is decoded instead, which says
    precisely what is wrong, if anything.
    """
    scanner = _Scanner(blocks)
    try:
        head = _ANY.decode(scanner.until(_CONNECTIONS_KEY, _HEAD_LIMIT) + b"]}")
    except msgspec.DecodeError:
        raise _Whole from None
    if not isinstance(head, dict) or list(head) != _HEAD_KEYS or head["format"] != FORMAT:
        raise _Whole
    _check_version(head)  # before reading on: a newer file may be laid out otherwise
    exported_at = head["exported_at"]
    if type(exported_at) not in (int, float) or abs(exported_at) > sys.float_info.max:
        raise _Whole  # not a number, or an integer no float holds
    connections: list[Connection] = []
    if scanner.peek() == b"]":
        scanner.pos += 1
    else:
        while True:
            if scanner.peek() != b"{":
                raise _Whole
            try:
                connection = _CONNECTION.decode(scanner.until(_MESSAGES_KEY, _META_LIMIT) + b"]}")
            except msgspec.DecodeError:
                raise _Whole from None
            if scanner.peek() == b"]":
                scanner.pos += 1
            else:
                scanner.frames(connection.messages)
            scanner.expect(b"}")
            connections.append(connection)
            token = scanner.peek()
            scanner.pos += 1
            if token == b"]":
                break
            if token != b",":
                raise _Whole
    loop_blocks: list[AppLoopBlock] = []
    if scanner.peek() == b",":  # the keys after the connections: what no handler held
        scanner.pos += 1
        try:
            loop_blocks = _TAIL.decode(b"{" + scanner.rest(_META_LIMIT)).loop_blocks
        except msgspec.DecodeError:
            raise _Whole from None
    else:
        scanner.expect(b"}")
    if scanner.peek():  # trailing characters
        raise _Whole
    return Session(exported_at=float(exported_at), connections=connections, loop_blocks=loop_blocks)


class _Scanner:
    """Blocks of a file, consumed from the front."""

    __slots__ = ("_blocks", "buf", "pos")

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self.buf = b""
        self.pos = 0

    def more(self) -> bool:
        """The next block, after what is left of this one; False at the end of the file."""
        block = next(self._blocks, b"")
        if not block:
            return False
        self.buf = self.buf[self.pos :] + block
        self.pos = 0
        return True

    def peek(self) -> bytes:
        """The next byte that is not whitespace, skipped to and not consumed; b"" at the end."""
        while (match := _NOT_SPACE.search(self.buf, self.pos)) is None:
            self.pos = len(self.buf)
            if not self.more():
                return b""
        self.pos = match.start()
        return self.buf[self.pos : self.pos + 1]

    def expect(self, byte: bytes) -> None:
        if self.peek() != byte:
            raise _Whole
        self.pos += 1

    def rest(self, limit: int) -> bytes:
        """All that is left of the file, consumed; it must be at most ``limit`` bytes."""
        while self.more():
            if len(self.buf) - self.pos > limit:
                raise _Whole
        piece = self.buf[self.pos :]
        self.pos = len(self.buf)
        return piece

    def until(self, key: bytes, limit: int) -> bytes:
        """From here through the next ``key``, consumed; it must come within ``limit`` bytes."""
        while (found := self.buf.find(key, self.pos)) < 0:
            if len(self.buf) - self.pos > limit or not self.more():
                raise _Whole
        end = found + len(key)
        if end - self.pos > limit:
            raise _Whole
        piece = self.buf[self.pos : end]
        self.pos = end
        return piece

    def frames(self, into: list[Frame]) -> None:
        """The frames of a list whose "[" is consumed, through its "]", one or more a line.

        Whole lines are decoded at a time: each ends in a comma while more frames follow, and the
        list ends on a line that starts with "]".
        """
        pending = False  # a comma was cut off the last lines decoded: a frame must follow
        while True:
            buf, pos = self.buf, self.pos
            end = _LIST_END.search(buf, pos)
            if end is not None:
                if not _decode_frames(buf, pos, end.start(), into) and pending:
                    raise _Whole  # a trailing comma
                self.pos = end.end()
                return
            cut = buf.rfind(b"\n", pos)
            comma = _comma_before(buf, pos, cut)
            if comma < 0 and cut > pos:  # the last line may be the list's last frame: its "]" is to come
                cut = buf.rfind(b"\n", pos, cut)
                comma = _comma_before(buf, pos, cut)
            if comma >= 0:
                if not _decode_frames(buf, pos, comma, into):
                    raise _Whole  # a comma after no frame
                self.pos, pending = cut, True
            elif len(buf) - pos > _LINE_LIMIT:
                raise _Whole
            if not self.more():
                raise _Whole


def _comma_before(buf: bytes, start: int, stop: int) -> int:
    """Where the comma that ends ``buf[start:stop]`` (whitespace aside) is, or -1."""
    index = stop - 1
    while index > start and buf[index] in b" \t\r\n":
        index -= 1
    return index if index > start and buf[index] == 0x2C else -1


def _decode_frames(buf: bytes, start: int, stop: int, into: list[Frame]) -> int:
    """Decode the frames of ``buf[start:stop]`` into ``into``; how many there were."""
    try:
        frames = _FRAMES.decode(b"".join((b"[", memoryview(buf)[start:stop], b"]")))
    except msgspec.DecodeError:
        raise _Whole from None
    for frame in frames:
        content = frame.content
        if type(content) is not str:
            if content is None:
                continue
            raise _Whole  # neither text nor null: the whole document's decode says so
        if frame.message_type in _BINARY_KINDS:
            try:
                frame.content = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise _Whole from None  # the whole document's decode says so, after any other fault
    into.extend(frames)
    return len(frames)


class _Document(msgspec.Struct):
    """A session file, or a HAR file's log, decoded typed in one go."""

    format: str | None = None
    version: int | None = None
    exported_at: float | None = None
    connections: list[Connection] | None = None
    loop_blocks: list[AppLoopBlock] = msgspec.field(default_factory=list)
    log: dict[str, Any] | None = None


_DOCUMENT = msgspec.json.Decoder(_Document)


def _decode_whole(data: bytes) -> Session:
    """Typed when it is a session or HAR document this wsinspect reads; else what is wrong with it,
    found by a generic decode."""
    try:
        document = _DOCUMENT.decode(data)
    except msgspec.DecodeError:
        return _decode_generic(data)
    if document.log is not None:
        return session_from_har(document.log)
    connections = document.connections
    if document.format != FORMAT or document.version != VERSION or document.exported_at is None or connections is None:
        return _decode_generic(data)
    _unbase64_frames(connections)
    return Session(exported_at=document.exported_at, connections=connections, loop_blocks=document.loop_blocks)


def _decode_generic(data: bytes) -> Session:
    """A session from session JSON or HAR bytes, decoded generically: what a file that is not
    read typed goes through, for the precise message of what is wrong with it."""
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SessionFileError(_json_error(data, str(exc))) from None
    if isinstance(document, dict) and isinstance(document.get("log"), dict):
        return session_from_har(document["log"])
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SessionFileError("neither a wsinspect session nor a HAR file")
    _check_version(document)
    try:
        session = msgspec.convert(document, Session)
    except msgspec.ValidationError as exc:
        raise SessionFileError(f"invalid session: {exc}") from None
    _unbase64_frames(session.connections)
    return session


def _check_version(document: dict[str, Any]) -> None:
    if document.get("version") != VERSION:
        raise SessionFileError(
            f"session format version {document.get('version')!r} is not supported (this wsinspect reads {VERSION})"
        )


_JSON_TYPES = {bool: "bool", int: "int", float: "float", list: "array", dict: "object"}


def _unbase64_frames(connections: list[Connection]) -> None:
    """Binary payloads decoded from base64; a payload that is neither text nor null is refused."""
    for number, connection in enumerate(connections):
        for index, frame in enumerate(connection.messages):
            content = frame.content
            if content is None:
                continue
            binary = frame.message_type in _BINARY_KINDS
            if type(content) is not str:
                raise SessionFileError(
                    f"invalid session: Expected {'base64 ' if binary else ''}`str | null`, got "
                    f"`{_JSON_TYPES.get(type(content), type(content).__name__)}` - at "
                    f"`$.connections[{number}].messages[{index}].content`"
                )
            if binary:
                frame.content = unbase64(content)


_MALFORMED = re.compile(r"JSON is malformed: (?P<reason>.*) \(byte (?P<offset>\d+)\)$")


def _json_error(data: bytes, message: str) -> str:
    """What is wrong with bytes msgspec could not decode, and where, in one line."""
    if not data.strip():
        return "an empty file, not JSON"
    if message.startswith("Input data was truncated"):
        end = len(data.rstrip())
        return f"truncated JSON: the file ends early, at {_where(data, end)}, before the document is complete"
    if message.startswith("Invalid UTF-8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid JSON at {_where(data, exc.start)}: not UTF-8 text"
        return f"invalid JSON: {message}"  # pragma: no cover - msgspec and Python agree on UTF-8
    match = _MALFORMED.match(message)
    if match is None:  # pragma: no cover - msgspec's other messages
        return f"invalid JSON: {message}"
    offset = int(match["offset"])
    if data.lstrip()[:1] not in (b"{", b"["):  # no session or HAR file starts so: not JSON at all
        return f"not a JSON file: {match['reason']} at {_where(data, offset)}"
    return f"invalid JSON at {_where(data, offset)}: {match['reason']}"


def _where(data: bytes, offset: int) -> str:
    """ "line 3, column 7 (byte 40)": lines and columns from 1, columns in characters."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return f"line {line:,}, column {column:,} (byte {offset:,})"
