"""Cache entries as JSON (never a pickle): every engine's outcome written exactly and read back strictly."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from typing import Any, Callable

from barcheck.run.jobs import MEASURE, Job
from barcheck.engine.verdict import Result
from barcheck.engine.wire import WireError, decode, encode


class Uncachable(Exception):
    """An outcome that JSON cannot carry exactly: it is solved again next time rather than stored changed."""


def encode_entry(job: Job, outcome: Any) -> bytes:
    try:
        body = json.dumps({"engine": job.engine, "outcome": _encode_outcome(job, outcome)},
                          separators=(",", ":"), allow_nan=False).encode()
        again = decode_entry(job, json.loads(body))
    except Exception as err:  # noqa: BLE001 - an outcome JSON cannot carry is not stored
        raise Uncachable(f"a {job.engine} result cannot be stored as JSON ({err})") from None
    if repr(again) != repr(outcome):
        raise Uncachable(f"a {job.engine} result does not survive JSON unchanged")
    return body


def _encode_outcome(job: Job, outcome: Any) -> Any:
    if job.engine == MEASURE:
        return [_encode(row) for row in outcome]
    return _encode_fields(outcome, {"scope": _plain, "trace": _encode_trace})


def decode_entry(job: Job, doc: Any) -> Any:
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
    """JSON-native values as they are (the round trip in `encode_entry` refuses anything else)."""
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
