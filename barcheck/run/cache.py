"""A result cache on disk (`--cache DIR`), keyed by everything that decides a check's answer.

The key hashes the z3 version, the digest of every source file that builds
the encoded queries (`sources.inputs_digest`: model/, properties/ and the
engine), and the job itself: engine, property, policy, page size, seed,
rlimit and every other setting; for a policy loaded from a file, the file's
SHA-256 as well.  The encoded query is a deterministic function of those, so
equal keys mean equal queries; any edit to the model invalidates every entry.

Nothing in the cache is trusted for being there.  An entry is JSON (never a
pickle) and carries an HMAC-SHA256, under a per-user secret key, of the
cache key and the entry's exact bytes; the directory, and everything in it,
must belong to the user and be writable by nobody else, and its parents
must be safe in the way ssh's StrictModes asks.  An entry that fails any
check, or whose counterexample no longer replays on the concrete semantics,
is a miss: it is solved again and counted in `Cache.rejected`.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import hmac
import json
import math
import os
import stat
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Callable

from barcheck.run.jobs import MEASURE, Job
from barcheck.run.userpolicy import policy_file_of
from barcheck.engine.verdict import Result, Verdict
from barcheck.engine.wire import WireError, decode, encode

CACHE_FORMAT = 2
ENTRY_SUFFIX = ".json"
KEY_BYTES = 32
MAX_ENTRY_BYTES = 64 << 20
_HEAD, _MIDDLE, _TAIL = b'{"mac":"', b'","entry":', b"}\n"
_MAC_HEX = 64


class UntrustedCache(Exception):
    """The cache directory, something in it, or the key file is not safe to trust: one line, naming the path."""


class _Rejected(Exception):
    """An entry that exists but fails verification (the reason is the message)."""


class Cache:
    def __init__(self, directory: Path, z3_version: str, inputs_sha256: str, mac_key: bytes | None = None) -> None:
        self.directory = directory
        self._salt = f"barcheck-cache/{CACHE_FORMAT}\0{z3_version}\0{inputs_sha256}\0"
        self._mac_key = mac_key
        self.hits = self.misses = 0
        self.write_errors: list[str] = []
        """Why entries could not be saved: the run goes on, and the command warns once."""
        self.rejected: list[str] = []
        """`path: reason` of each entry that failed verification and was solved again."""
        self.shown = printable(str(directory))
        """The directory as the user named it, fit for a one-line message."""

    def rejected_summary(self) -> str:
        count = len(self.rejected)
        entries = "1 entry" if count == 1 else f"{count} entries"
        return (f"{entries} failed verification and {'was' if count == 1 else 'were'} solved again "
                f"(first: {self.rejected[0]})")

    def key(self, job: Job) -> str:
        user_file = policy_file_of(job.policy_name)
        source = f"\0policy-file {user_file.sha256}" if user_file else ""
        return hashlib.sha256((self._salt + repr(job) + source).encode()).hexdigest()

    def entry_path(self, job: Job) -> Path:
        return self._path(self.key(job))

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def _mac(self, key: str, body: bytes) -> bytes:
        if self._mac_key is None:
            self._mac_key = load_user_key(user_key_path())
        message = b"barcheck-cache\0" + key.encode() + b"\0" + body
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest().encode()

    def get(self, job: Job) -> Any:
        key = self.key(job)
        path = self._path(key)
        try:
            outcome = self._load(job, key, path)
        except _Rejected as why:
            self.rejected.append(f"{printable(str(path))}: {why}")
            outcome = None
        except OSError as err:
            self.rejected.append(f"{printable(str(path))}: unreadable ({err.strerror or err})")
            outcome = None
        if outcome is None:
            self.misses += 1
            return None
        self.hits += 1
        return outcome

    def _load(self, job: Job, key: str, path: Path) -> Any:
        data = _read_entry(path)
        if data is None:
            return None
        mac, body = _unframe(data)
        if not hmac.compare_digest(mac, self._mac(key, body)):
            raise _Rejected("bad MAC")
        try:
            outcome = _decode_entry(job, json.loads(body))
        except Exception as err:  # noqa: BLE001 - whatever a stale format raises, the entry is a miss
            raise _Rejected(f"does not decode ({printable(str(err))})") from None
        if not _still_replays(outcome):
            raise _Rejected("the cached counterexample no longer replays")
        return outcome

    def put(self, job: Job, outcome: Any) -> None:
        try:
            body = _encode_entry(job, outcome)
        except _Uncachable as why:
            self.write_errors.append(str(why))
            return
        key = self.key(job)
        data = _HEAD + self._mac(key, body) + _MIDDLE + body + _TAIL
        try:
            _write_entry(self._path(key), data)
        except OSError as err:
            self.write_errors.append(err.strerror or str(err))
        except UntrustedCache as err:
            self.write_errors.append(str(err))


# ----------------------------------------------------------------------------- entries on disk


def _read_entry(path: Path) -> bytes | None:
    """The bytes of the entry at `path`, None when there is none; symbolic links are never followed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        shard = os.open(path.parent, flags | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _Rejected(f"its directory is {_open_failure(err)}") from None
    try:
        problem = _not_private(os.fstat(shard))
        if problem:
            raise _Rejected(f"its directory is {problem[0]}")
        try:
            handle = os.open(path.name, flags | os.O_NONBLOCK, dir_fd=shard)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _Rejected(_open_failure(err)) from None
    finally:
        os.close(shard)
    with os.fdopen(handle, "rb") as entry:
        info = os.fstat(entry.fileno())
        problem = _not_private(info)
        if problem:
            raise _Rejected(problem[0])
        if not stat.S_ISREG(info.st_mode):
            raise _Rejected("not a regular file")
        if info.st_size > MAX_ENTRY_BYTES:
            raise _Rejected(f"larger than {MAX_ENTRY_BYTES} bytes")
        return entry.read(MAX_ENTRY_BYTES + 1)


def _open_failure(err: OSError) -> str:
    if err.errno == errno.ELOOP or (err.errno == errno.ENOTDIR and os.path.islink(err.filename)):
        return "a symbolic link"
    if err.errno == errno.ENOTDIR:
        return "not a directory"
    return f"unreadable ({err.strerror or err})"


def _unframe(data: bytes) -> tuple[bytes, bytes]:
    """(mac, body) of `{"mac":"<hex>","entry":<body>}`: the MAC covers the body's exact bytes."""
    mac_end = len(_HEAD) + _MAC_HEX
    if not (data.startswith(_HEAD) and data[mac_end:mac_end + len(_MIDDLE)] == _MIDDLE and data.endswith(_TAIL)):
        raise _Rejected("not a barcheck cache entry")
    return data[len(_HEAD):mac_end], data[mac_end + len(_MIDDLE):-len(_TAIL)]


def _write_entry(path: Path, data: bytes) -> None:
    try:
        os.mkdir(path.parent, 0o700)
    except FileExistsError:
        pass
    _require_private(os.lstat(path.parent), path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- outcomes as JSON


class _Uncachable(Exception):
    """An outcome that JSON cannot carry exactly: it is solved again next time rather than stored changed."""


def _encode_entry(job: Job, outcome: Any) -> bytes:
    try:
        body = json.dumps({"engine": job.engine, "outcome": _encode_outcome(job, outcome)},
                          separators=(",", ":"), allow_nan=False).encode()
        again = _decode_entry(job, json.loads(body))
    except Exception as err:  # noqa: BLE001 - an outcome JSON cannot carry is not stored
        raise _Uncachable(f"a {job.engine} result cannot be stored as JSON ({err})") from None
    if repr(again) != repr(outcome):
        raise _Uncachable(f"a {job.engine} result does not survive JSON unchanged")
    return body


def _encode_outcome(job: Job, outcome: Any) -> Any:
    if job.engine == MEASURE:
        return [_encode(row) for row in outcome]
    return _encode_fields(outcome, {"scope": _plain, "trace": _encode_trace})


def _decode_entry(job: Job, doc: Any) -> Any:
    if not isinstance(doc, dict) or set(doc) != {"engine", "outcome"} or doc["engine"] != job.engine:
        raise WireError("$: not an entry for this engine")
    data = doc["outcome"]
    if job.engine == MEASURE:
        from barcheck.engine.msixmeasure import Measure
        if not isinstance(data, list):
            raise WireError("$.outcome: expected a list of rows")
        return tuple(_decode_fields(Measure, row, f"$.outcome[{i}]", {"seconds": _float})
                     for i, row in enumerate(data))
    return _decode_fields(Result, data, "$.outcome", {"seconds": _float, "scope": _scope, "trace": _decode_trace})


def _encode_fields(value: Any, special: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """A dataclass as an object: `_encode` for every field except those `special` writes itself."""
    return {f.name: special[f.name](getattr(value, f.name)) if f.name in special else _encode(getattr(value, f.name))
            for f in dataclasses.fields(value)}


def _encode(value: Any) -> Any:
    """wire.encode, except that floats are JSON numbers and dicts keep their order (wire.encode sorts them)."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(item) for item in value]
    return encode(value)


def _decode_fields(kind: type, data: Any, path: str, special: dict[str, Callable[[Any, str], Any]]) -> Any:
    """A dataclass from its object: `_decoder` for every field except those `special` reads itself."""
    readers = dict(_field_readers(kind))
    readers.update(special)
    return _read_object(kind, readers, data, path)


def _read_object(kind: type, readers: dict[str, Callable[[Any, str], Any]], data: Any, path: str) -> Any:
    if not isinstance(data, dict) or data.keys() != readers.keys():
        raise WireError(f"{path}: expected exactly the fields of {kind.__name__}")
    return kind(**{name: read(data[name], f"{path}.{name}") for name, read in readers.items()})


@functools.cache
def _field_readers(kind: type) -> tuple[tuple[str, Callable[[Any, str], Any]], ...]:
    hints = typing.get_type_hints(kind)
    return tuple((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(kind))


@functools.cache
def _decoder(kind: Any) -> Callable[[Any, str], Any]:
    """wire.decode for `kind`, built once per type: wire.decode looks up and evaluates the type hints of a
    dataclass for every value, which would be most of the time a cache hit takes."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        readers = dict(_field_readers(kind))
        return lambda data, path: _read_object(kind, readers, data, path)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _decoder(args[0])
        return lambda data, path: (tuple(item(value, path) for value in data) if isinstance(data, list)
                                   else decode(kind, data, path))
    options = [option for option in args if option is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(options) == 1 < len(args):
        inner = _decoder(options[0])
        return lambda data, path: None if data is None else inner(data, path)
    return lambda data, path: decode(kind, data, path)


def _float(value: Any, path: str = "$") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WireError(f"{path}: expected a finite number")
    return float(value)


def _plain(value: Any) -> Any:
    """JSON-native values as they are (the round trip in `_encode_entry` refuses anything else)."""
    return value


def _scope(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{path}: expected an object")
    return value


def _trace_types() -> dict[str, type]:
    from barcheck.engine.pgoffcheck import RoundTripCounterexample
    from barcheck.engine.recordcheck import RecordCounterexample
    from barcheck.engine.tracecheck import TraceCounterexample
    from barcheck.engine.vmatrace import VmaCounterexample
    return {kind.__name__: kind for kind in (TraceCounterexample, VmaCounterexample, RoundTripCounterexample,
                                             RecordCounterexample)}


def _encode_trace(trace: Any) -> Any:
    if trace is None:
        return None
    name = type(trace).__name__
    if _trace_types().get(name) is not type(trace):
        raise TypeError(f"no JSON form for a {name}")
    return {"type": name, "value": _encode(trace)}


def _decode_trace(data: Any, path: str) -> Any:
    if data is None:
        return None
    kinds = _trace_types()
    if not isinstance(data, dict) or set(data) != {"type", "value"} or data["type"] not in kinds:
        raise WireError(f"{path}: expected null or a typed trace")
    kind = kinds[data["type"]]
    if kind.__name__ == "VmaCounterexample":
        return _decode_fields(kind, data["value"], f"{path}.value", {"steps": _vma_steps})
    return _decoder(kind)(data["value"], f"{path}.value")


_LIVE = tuple[typing.Optional[tuple[int, ...]], ...]
"""What `VmaTraceStep.live_before` and `live_after` (annotated a bare `tuple`) hold."""


def _vma_steps(data: Any, path: str) -> tuple:
    from barcheck.engine.vmatrace import VmaTraceStep
    if not isinstance(data, list):
        raise WireError(f"{path}: expected a list")
    live = {"live_before": _decoder(_LIVE), "live_after": _decoder(_LIVE)}
    return tuple(_decode_fields(VmaTraceStep, step, f"{path}[{i}]", live) for i, step in enumerate(data))


def _still_replays(outcome: Any) -> bool:
    if not isinstance(outcome, Result) or outcome.verdict is not Verdict.COUNTEREXAMPLE:
        return True
    from barcheck.engine.witness import STILL_VIOLATES, replay_witness, witness_of
    witness = witness_of(outcome)
    if witness is None:
        return False
    try:
        return replay_witness(witness).status == STILL_VIOLATES
    except Exception:
        return False


# ----------------------------------------------------------------------------- who may write where


def _not_private(info: os.stat_result) -> tuple[str, str] | None:
    """(what is wrong, what to do) unless the file or directory belongs to this user alone."""
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link", "remove it"
    if info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by you (uid {os.geteuid()})", "remove it or use another directory"
    writers = _writers(info.st_mode)
    if writers:
        return f"writable by {writers} (mode {_mode(info)})", "chmod go-w it"
    return None


def _require_private(info: os.stat_result, path: Path) -> None:
    problem = _not_private(info)
    if problem:
        raise UntrustedCache(f"{printable(str(path))} is {problem[0]}; {problem[1]}")


def _require_safe_parent(path: Path) -> None:
    """ssh's StrictModes: owned by root or this user, and writable by nobody else unless sticky."""
    info = os.stat(path)
    if info.st_uid not in (0, os.geteuid()):
        raise UntrustedCache(f"{printable(str(path))} is owned by uid {info.st_uid}, neither you "
                             f"(uid {os.geteuid()}) nor root; use another directory")
    writers = _writers(info.st_mode)
    if writers and not info.st_mode & stat.S_ISVTX:
        raise UntrustedCache(f"{printable(str(path))} is writable by {writers} and not sticky (mode {_mode(info)}); "
                             "chmod go-w it or use another directory")


def _writers(mode: int) -> str:
    return " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if mode & bit)


def _mode(info: os.stat_result) -> str:
    return f"{stat.S_IMODE(info.st_mode):04o}"


def private_directory(directory: Path) -> Path:
    """`directory`, resolved and created (0700) as needed, after checking it and its parents."""
    path = Path(os.path.realpath(directory))
    for missing in reversed([p for p in (path, *path.parents) if not os.path.lexists(p)]):
        _require_safe_parent(missing.parent)
        try:
            os.mkdir(missing, 0o700)
        except FileExistsError:
            pass
    for parent in path.parents:
        _require_safe_parent(parent)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedCache(f"{printable(str(path))} is not a directory")
    _require_private(info, path)
    return path


def _check_contents(directory: Path) -> None:
    """Every shard directory and entry file in the cache belongs to this user alone."""
    with os.scandir(directory) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            _require_private(info, Path(entry.path))
            if stat.S_ISDIR(info.st_mode):
                _check_contents(Path(entry.path))


# ----------------------------------------------------------------------------- the per-user MAC key


def user_key_path() -> Path:
    """`$XDG_CACHE_HOME/barcheck/cache-key` (an absolute XDG_CACHE_HOME only), else `~/.cache/barcheck/cache-key`."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "barcheck" / "cache-key"


def load_user_key(path: Path) -> bytes:
    """The user's secret MAC key, made (32 random bytes, mode 0600) if there is none yet."""
    path = private_directory(path.parent) / path.name
    try:
        return _read_key(path)
    except FileNotFoundError:
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Publish a complete key under `path` atomically: the loser of a race keeps the winner's key."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cache-key-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(os.urandom(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: create in place, exclusively
        _create_key_in_place(path)
    finally:
        os.unlink(temporary)


def _create_key_in_place(path: Path) -> None:
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    with os.fdopen(handle, "wb") as out:
        out.write(os.urandom(KEY_BYTES))


def _read_key(path: Path) -> bytes:
    shown = f"key file {printable(str(path))}"
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UntrustedCache(f"{shown} is a symbolic link; remove it") from None
        raise UntrustedCache(f"{shown}: {err.strerror}") from None
    with os.fdopen(handle, "rb") as key_file:
        info = os.fstat(key_file.fileno())
        problem = _not_private(info)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedCache(f"{shown} is not a regular file; remove it")
        if problem:
            raise UntrustedCache(f"{shown} is {problem[0]}; {problem[1]}")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise UntrustedCache(f"{shown} is open to group or others (mode {_mode(info)}); chmod 600 it")
        key = key_file.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise UntrustedCache(f"{shown} does not hold {KEY_BYTES} bytes; remove it "
                             "(entries made with it will be solved again)")
    return key


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1) escaped, fit for one line on a terminal."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)


def open_cache(directory: str) -> Cache:
    """The cache in `directory` (created 0700 if missing) for this z3 and these sources.

    Raises UntrustedCache when the directory, its contents, a parent or the key file is unsafe."""
    from barcheck.engine import sources
    from barcheck.engine.session import z3_version
    path = private_directory(Path(directory))
    _check_contents(path)
    cache = Cache(path, z3_version(), sources.inputs_digest(), load_user_key(user_key_path()))
    cache.shown = printable(directory)
    return cache
