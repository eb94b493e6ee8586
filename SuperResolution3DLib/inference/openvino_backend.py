"""OpenVINO backend: the network converted once to OpenVINO IR, cached on disk, run on the CPU.

On the CPUs measured (``benchmarks/inference_speed.py``) OpenVINO's convolutions beat PyTorch's on the same
network: about 1.6-1.8x on an AMD EPYC with AVX2 (issue 16's table), 1.23x in fp32 and 1.07x in bf16 on an AMD
EPYC Zen 4 with AVX512-BF16. Converting a model (``openvino.convert_model``, traced from PyTorch) takes 20-35 s on
2 cores, so the IR is kept in ``$SR3D_CACHE/openvino`` (default ``~/.cache/SuperResolution3D/openvino``) under a
fingerprint of the network's structure and weights; loading it again takes under a second.

``choose_backend`` decides, without importing OpenVINO, what runs a job: ``auto`` takes OpenVINO on the CPU when it
is installed, the job runs in fp32 (PyTorch's bf16 autocast was faster than OpenVINO's bf16 on the Zen 4 measured:
3.0 s against 3.6 s on the sample), the network has no full-resolution tail (whose feature maps PyTorch bounds by running it in slabs)
and the IR is already cached or the job is big enough (``CONVERSION_PAYS_GFLOP``) for the conversion to cost less
than the job itself; otherwise PyTorch. ``openvino`` forces it (and fails with what to install when it is missing).
Outputs agree with PyTorch's within 1e-4 in fp32 (tests; 6e-5 on the sample); weights are never compressed to
fp16 in the IR.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from SuperResolution3DLib.core.errors import DeviceError
from SuperResolution3DLib.core.vocabulary import BACKENDS
from SuperResolution3DLib.networks import InterpolationUpsampler3D

# Network work (convolution GFLOP) above which a first-time conversion (20-35 s) costs less than the job it speeds
# up: 5 TFLOP is about 30 s of PyTorch fp32 on 2 Zen 4 cores.
CONVERSION_PAYS_GFLOP = 5000.0
CACHE_VARIABLE = "SR3D_CACHE"
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def check_backend_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def cache_folder() -> Path:
    root = os.environ.get(CACHE_VARIABLE) or os.path.join("~", ".cache", "SuperResolution3D")
    return Path(root).expanduser() / "openvino"


def network_fingerprint(network: nn.Module) -> str:
    """sha256 of the network's class, its settings that shape the graph, and every parameter and buffer."""
    digest = hashlib.sha256(type(network).__name__.encode())
    for name in ("scale", "upsampler", "stages"):
        digest.update(repr(getattr(network, name, None)).encode())
    for key, tensor in network.state_dict().items():
        digest.update(key.encode())
        digest.update(repr(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def cached_ir_path(network: nn.Module) -> Path:
    return cache_folder() / f"{type(network).__name__}_{network_fingerprint(network)}.xml"


def has_full_resolution_tail(network: nn.Module) -> bool:
    return getattr(network, "upsampler", None) == "nearest_conv"


def choose_backend(requested: str, device_type: str, network: nn.Module, work_gflop: Union[float, Callable[[], float]],
                   precision: str = "fp32") -> Tuple[str, str]:
    """``(backend, reason)`` for a job of ``work_gflop`` (a number, or a function that measures it when it matters)
    at the resolved ``precision`` on ``device_type``."""
    check_backend_name(requested)
    if requested == "openvino":
        if device_type != "cpu":
            raise DeviceError(f"the OpenVINO backend runs on the CPU; use --device cpu, or --backend torch for {device_type}")
        if not openvino_installed():
            raise DeviceError("the OpenVINO backend needs the openvino package: pip install openvino (or --backend torch)")
        return "openvino", "asked for"
    if requested == "torch" or device_type != "cpu" or isinstance(network, InterpolationUpsampler3D):
        return "torch", "asked for" if requested == "torch" else "PyTorch"
    if not openvino_installed():
        return "torch", "auto: OpenVINO not installed (pip install openvino is faster on most CPUs)"
    if precision != "fp32":
        return "torch", f"auto: {precision} runs faster on PyTorch than on OpenVINO on the CPUs measured"
    if has_full_resolution_tail(network):
        return "torch", "auto: this network's full-resolution tail runs in slabs under PyTorch"
    if cached_ir_path(network).exists():
        return "openvino", "auto: installed, model converted before"
    work_gflop = work_gflop() if callable(work_gflop) else work_gflop
    if work_gflop >= CONVERSION_PAYS_GFLOP:
        return "openvino", f"auto: installed, {work_gflop / 1000:.0f} TFLOP of work pays for a one-off conversion"
    return "torch", "auto: OpenVINO installed, but converting the model (once, ~30 s) costs more than this job"


class OpenVINONetwork:
    """Calls a compiled OpenVINO model like the PyTorch network: ``(N, C, D, H, W)`` tensor in, tensor out."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(batch.detach().float().cpu().numpy())
        output = self.request.infer({0: array})[self.compiled.output(0)]
        return torch.from_numpy(np.array(output, dtype=np.float32, copy=True))


def convert_to_ir(network: nn.Module, path: Path, log: Optional[Callable[[str], None]] = None) -> None:
    """Trace ``network`` into OpenVINO IR at ``path`` (dynamic batch and window size, fp32 weights), atomically."""
    import openvino as ov

    if log:
        log(f"converting the model to OpenVINO (once; cached in {path.parent})")
    example = torch.zeros(1, 1, 16, 16, 16)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing's notes on constant shapes: the graph is checked by the tests
        converted = ov.convert_model(network.float().eval(), example_input=example,
                                     input=[ov.PartialShape([-1, 1, -1, -1, -1])])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + f".partial{os.getpid()}.xml")
    ov.save_model(converted, str(partial), compress_to_fp16=False)
    partial.with_suffix(".bin").replace(path.with_suffix(".bin"))
    partial.replace(path)


def openvino_network(network: nn.Module, precision: str, threads: Optional[int] = None,
                     log: Optional[Callable[[str], None]] = None) -> OpenVINONetwork:
    """``network`` compiled by OpenVINO for this CPU at ``precision`` (``fp32`` or ``bf16``), from the cached IR."""
    import openvino as ov

    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"the OpenVINO backend runs fp32 or bf16, not {precision}")
    path = cached_ir_path(network)
    if not path.exists():
        convert_to_ir(network, path, log)
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())}
    return OpenVINONetwork(core.compile_model(core.read_model(str(path)), "CPU", config))
