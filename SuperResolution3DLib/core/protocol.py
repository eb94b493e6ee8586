"""The line protocol between ``sr3d predict --progress lines`` and a parent process (the Slicer module).

Standard library only, so a parent can parse it without torch. One event per line on stdout:

* ``PROGRESS <fraction> <message>``: how far the run is (0..1);
* ``ERROR <json>``: the run failed; ``{"kind": <error class>, "code": <ErrorCode>, "message": <one line>}``;
* ``READY`` and ``DONE <exit code>``: from a warm worker (``SuperResolution3DLib.worker``): it has imported what a
  run needs, and a request has ended (what the exit code of a one-run process would have been).

A worker reads one request per line on stdin: ``{"argv": ["predict", IN, OUT, ...]}`` (``request_line``).

Every other line is log text. ``code`` is what a parent acts on (``gpu_out_of_memory``: retry smaller);
it comes from the error class (``core.errors``), never from matching message text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Union

PROGRESS_PREFIX = "PROGRESS "
ERROR_PREFIX = "ERROR "
DONE_PREFIX = "DONE "
READY_LINE = "READY"


class ErrorCode:
    """What a parent process can do about a failed run."""

    GPU_OUT_OF_MEMORY = "gpu_out_of_memory"  # retry with a smaller window / batch, or on the CPU
    OUT_OF_MEMORY = "out_of_memory"  # host RAM: choose a region of interest
    BAD_INPUT = "bad_input"  # the user must change an input, a model or an option
    CANCELLED = "cancelled"
    FAILED = "failed"  # anything else


@dataclass(frozen=True)
class ProgressEvent:
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class ErrorEvent:
    kind: str
    code: str
    message: str


@dataclass(frozen=True)
class DoneEvent:
    returncode: int


@dataclass(frozen=True)
class ReadyEvent:
    pass


def done_line(returncode: int) -> str:
    return f"{DONE_PREFIX}{int(returncode)}"


def request_line(argv) -> str:
    return json.dumps({"argv": [str(a) for a in argv]})


def parse_request(line: str):
    """The ``argv`` of a worker request line; ``ValueError`` when it is not one."""
    try:
        argv = json.loads(line)["argv"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"a worker request is one JSON line {{\"argv\": [...]}}, got {line[:80]!r}") from None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("a worker request's argv is a list of strings")
    return argv


def progress_line(fraction: float, message: str = "") -> str:
    return f"{PROGRESS_PREFIX}{float(fraction):.4f} {message}".rstrip()


def error_line(error: BaseException) -> str:
    code = getattr(error, "code", ErrorCode.FAILED)
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ERROR_PREFIX + json.dumps({"kind": type(error).__name__, "code": code, "message": message})


def parse_line(line: str) -> Optional[Union[ProgressEvent, ErrorEvent, DoneEvent, ReadyEvent]]:
    """The event on ``line``, or ``None`` for log text (including malformed event lines)."""
    if line == READY_LINE:
        return ReadyEvent()
    if line.startswith(DONE_PREFIX):
        try:
            return DoneEvent(int(line[len(DONE_PREFIX):]))
        except ValueError:
            return None
    if line.startswith(PROGRESS_PREFIX):
        parts = line.split(" ", 2)
        try:
            fraction = min(max(float(parts[1]), 0.0), 1.0)
        except (IndexError, ValueError):
            return None
        return ProgressEvent(fraction, parts[2] if len(parts) > 2 else "")
    if line.startswith(ERROR_PREFIX):
        try:
            fields = json.loads(line[len(ERROR_PREFIX):])
            return ErrorEvent(str(fields["kind"]), str(fields.get("code", ErrorCode.FAILED)), str(fields["message"]))
        except (ValueError, KeyError, TypeError):
            return None
    return None
