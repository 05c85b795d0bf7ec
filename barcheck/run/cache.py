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

The parts: cache_key.py (the MAC key), cache_trust.py (ownership and mode checks) and
cache_json.py (outcomes as JSON); this module derives the keys and reads and writes the entries.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from barcheck.run.cache_json import Uncachable, decode_entry, encode_entry
from barcheck.run.cache_key import KEY_BYTES, _create_key, load_user_key, user_key_path  # noqa: F401 (key-race test)
from barcheck.run.cache_trust import (UntrustedCache, check_contents, not_private, printable, private_directory,
                                      require_private)
from barcheck.run.jobs import Job
from barcheck.run.userpolicy import policy_file_of
from barcheck.engine.verdict import Result, Verdict

__all__ = ["CACHE_FORMAT", "ENTRY_SUFFIX", "KEY_BYTES", "MAX_ENTRY_BYTES", "Cache", "UntrustedCache", "load_user_key",
           "open_cache", "printable", "private_directory", "user_key_path"]

CACHE_FORMAT = 2
ENTRY_SUFFIX = ".json"
MAX_ENTRY_BYTES = 64 << 20
_HEAD, _MIDDLE, _TAIL = b'{"mac":"', b'","entry":', b"}\n"
_MAC_HEX = 64


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
            outcome = decode_entry(job, json.loads(body))
        except Exception as err:  # noqa: BLE001 - whatever a stale format raises, the entry is a miss
            raise _Rejected(f"does not decode ({printable(str(err))})") from None
        if not _still_replays(outcome):
            raise _Rejected("the cached counterexample no longer replays")
        return outcome

    def put(self, job: Job, outcome: Any) -> None:
        try:
            body = encode_entry(job, outcome)
        except Uncachable as why:
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


def open_cache(directory: str) -> Cache:
    """The cache in `directory` (created 0700 if missing) for this z3 and these sources.

    Raises UntrustedCache when the directory, its contents, a parent or the key file is unsafe."""
    from barcheck.engine import sources
    from barcheck.engine.session import z3_version
    path = private_directory(Path(directory))
    check_contents(path)
    cache = Cache(path, z3_version(), sources.inputs_digest(), load_user_key(user_key_path()))
    cache.shown = printable(directory)
    return cache


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
        problem = not_private(os.fstat(shard))
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
        problem = not_private(info)
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
    require_private(os.lstat(path.parent), path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
