"""A result cache on disk (`--cache DIR`), keyed by everything that decides a check's answer.

The key hashes the z3 version, the digest of every source file that builds
the encoded queries (`catalogue.inputs_digest`: model/, properties/ and the
engine), and the job itself: engine, property, policy, page size, seed,
rlimit and every other setting; for a policy loaded from a file, the file's
SHA-256 as well.  The encoded query is a deterministic
function of those, so equal keys mean equal queries; any edit to the model
invalidates every entry.

A cached counterexample is replayed on the concrete semantics again before
it is returned, and an entry that fails to load or replay is treated as a
miss.  Entries are pickles: the cache directory must be as trusted as the
source tree.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from barcheck.jobs import MEASURE, Job
from barcheck.userpolicy import policy_file_of
from barcheck.verdict import Result, Verdict

CACHE_FORMAT = 1


class Cache:
    def __init__(self, directory: Path, z3_version: str, inputs_sha256: str) -> None:
        self.directory = directory
        self._salt = f"barcheck-cache/{CACHE_FORMAT}\0{z3_version}\0{inputs_sha256}\0"
        self.hits = self.misses = 0
        self.write_errors: list[str] = []
        """Why entries could not be saved: the run goes on, and the command warns once."""

    def key(self, job: Job) -> str:
        user_file = policy_file_of(job.policy_name)
        source = f"\0policy-file {user_file.sha256}" if user_file else ""
        return hashlib.sha256((self._salt + repr(job) + source).encode()).hexdigest()

    def _path(self, job: Job) -> Path:
        key = self.key(job)
        return self.directory / key[:2] / f"{key}.pickle"

    def get(self, job: Job) -> Any:
        try:
            result = pickle.loads(self._path(job).read_bytes())
        except Exception:
            result = None
        if not _valid(job, result):
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, job: Job, result: Any) -> None:
        path = self._path(job)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as err:
            self.write_errors.append(err.strerror or str(err))
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(temporary, path)
        except OSError as err:
            Path(temporary).unlink(missing_ok=True)
            self.write_errors.append(err.strerror or str(err))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _valid(job: Job, outcome: Any) -> bool:
    if job.engine == MEASURE:
        from barcheck.smt.msixmeasure import Measure
        return isinstance(outcome, tuple) and all(isinstance(row, Measure) for row in outcome)
    return isinstance(outcome, Result) and _still_replays(outcome)


def _still_replays(result: Result) -> bool:
    if result.verdict is not Verdict.COUNTEREXAMPLE:
        return True
    from barcheck.witness import STILL_VIOLATES, replay_witness, witness_of
    try:
        return replay_witness(witness_of(result)).status == STILL_VIOLATES
    except Exception:
        return False


def open_cache(directory: str) -> Cache:
    """The cache in `directory` (created if missing) for this z3 and these sources."""
    from barcheck.catalogue import inputs_digest
    from barcheck.smt.solver import z3_version
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return Cache(path, z3_version(), inputs_digest())
