"""A warm worker: one Python process that imports torch and the inference code once and then runs ``sr3d predict``
(and ``sr3d fuse``) requests one after another, so that a second super-resolution does not pay the start-up again.

    python -m SuperResolution3DLib.worker

prints ``READY`` once it has imported what a run needs, then reads one request per line on stdin
(``{"argv": ["predict", IN, OUT, ...]}``, ``core.protocol.request_line``), runs it exactly as ``sr3d`` would
(``--progress lines`` output included) and ends it with ``DONE <exit code>``. It stops at the end of stdin. Only
``predict`` and ``fuse`` are served. The Slicer module keeps one such worker per session and kills it to cancel a run.
"""

from __future__ import annotations

import sys
from typing import IO, Optional


SERVED_COMMANDS = ("predict", "fuse")
WARM_MODULES = ("SuperResolution3DLib.cli_predict", "SuperResolution3DLib.inference.api", "SuperResolution3DLib.models.files",
                "SuperResolution3DLib.inference.thick_slices", "SuperResolution3DLib.data.io")


def serve(requests: Optional[IO[str]] = None, out: Optional[IO[str]] = None) -> int:
    from SuperResolution3DLib.core.protocol import READY_LINE, done_line, parse_request

    requests = requests or sys.stdin
    out = out or sys.stdout
    import importlib

    from SuperResolution3DLib import cli

    for module in WARM_MODULES:  # what a run imports, paid once here
        importlib.import_module(module)

    print(READY_LINE, file=out, flush=True)
    for line in requests:
        if not line.strip():
            continue
        try:
            argv = parse_request(line)
            if not argv or argv[0] not in SERVED_COMMANDS:
                raise ValueError(f"the worker runs {' and '.join(repr(c) for c in SERVED_COMMANDS)} requests only, got {argv[:1]}")
            code = cli.main(argv)
        except ValueError as error:
            print(f"sr3d worker: error: {error}", file=sys.stderr, flush=True)
            code = 2
        release_memory()
        sys.stderr.flush()
        print(done_line(code), file=out, flush=True)
    return 0


def release_memory() -> None:
    """Give back what a run held (its arrays; CUDA's cached blocks) while the worker waits for the next one."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(serve())
