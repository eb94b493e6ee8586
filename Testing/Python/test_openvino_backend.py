"""The OpenVINO CPU backend: chosen by ``auto`` only where it pays, same output as PyTorch, converted once and cached."""

import numpy as np
import pytest
import torch

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.errors import DeviceError
from SuperResolution3DLib.inference import openvino_backend
from SuperResolution3DLib.inference.openvino_backend import CONVERSION_PAYS_GFLOP, cached_ir_path, choose_backend
from SuperResolution3DLib.networks import InterpolationUpsampler3D, RRDBNet3D

needs_openvino = pytest.mark.skipif(not openvino_backend.openvino_installed(), reason="pip install openvino")


def small_network(upsampler: str = "pixel_shuffle", seed: int = 0) -> RRDBNet3D:
    torch.manual_seed(seed)
    return RRDBNet3D(num_feat=8, num_grow_ch=4, num_block=1, scale=(2, 2, 2), upsampler=upsampler,
                     global_skip="trilinear").eval()


def test_auto_takes_openvino_only_where_installed_and_worth_the_conversion(monkeypatch, tmp_path):
    monkeypatch.setenv("SR3D_CACHE", str(tmp_path))
    network = small_network()
    monkeypatch.setattr(openvino_backend, "openvino_installed", lambda: False)
    assert choose_backend("auto", "cpu", network, 1e6)[0] == "torch"
    with pytest.raises(DeviceError, match="pip install openvino"):
        choose_backend("openvino", "cpu", network, 1.0)

    monkeypatch.setattr(openvino_backend, "openvino_installed", lambda: True)
    assert choose_backend("auto", "cpu", network, CONVERSION_PAYS_GFLOP / 2) == (
        "torch", "auto: OpenVINO installed, but converting the model (once, ~30 s) costs more than this job")
    assert choose_backend("auto", "cpu", network, CONVERSION_PAYS_GFLOP * 2)[0] == "openvino"
    assert choose_backend("auto", "cpu", network, CONVERSION_PAYS_GFLOP * 2, "bf16")[0] == "torch"
    assert choose_backend("openvino", "cpu", network, 1.0, "bf16")[0] == "openvino"
    assert choose_backend("auto", "cuda", network, 1e9)[0] == "torch"
    assert choose_backend("torch", "cpu", network, 1e9)[0] == "torch"
    assert choose_backend("auto", "cpu", InterpolationUpsampler3D("trilinear", (2, 2, 2)), 1e9)[0] == "torch"
    assert choose_backend("auto", "cpu", small_network("nearest_conv"), 1e9)[0] == "torch"
    with pytest.raises(DeviceError, match="runs on the CPU"):
        choose_backend("openvino", "cuda", network, 1.0)
    with pytest.raises(ValueError, match="unknown backend 'onnx'"):
        choose_backend("onnx", "cpu", network, 1.0)

    cached_ir_path(network).parent.mkdir(parents=True)
    cached_ir_path(network).write_text("")  # a small job takes OpenVINO once the model is converted
    assert choose_backend("auto", "cpu", network, 1.0) == ("openvino", "auto: installed, model converted before")
    assert choose_backend("auto", "cpu", network, 1.0, "bf16")[0] == "torch"


def test_the_cache_key_follows_the_weights_and_the_structure():
    first, same, other = small_network(seed=0), small_network(seed=0), small_network(seed=1)
    assert cached_ir_path(first) == cached_ir_path(same)
    assert cached_ir_path(first) != cached_ir_path(other)
    assert cached_ir_path(first) != cached_ir_path(small_network("nearest_conv", seed=0))


@needs_openvino
def test_openvino_output_equals_pytorch_and_the_conversion_is_cached(monkeypatch, tmp_path):
    from SuperResolution3DLib.inference.api import sliding_window_super_resolve

    monkeypatch.setenv("SR3D_CACHE", str(tmp_path))
    network = small_network()
    array = np.random.default_rng(0).random((10, 12, 9)).astype(np.float32)
    settings = dict(window=6, overlap=0.25, context=2, device="cpu", precision="fp32")  # auto takes OpenVINO in fp32 only
    expected = sliding_window_super_resolve(array, network, (2, 2, 2), InferenceSettings(backend="torch", **settings))
    messages = []
    got = sliding_window_super_resolve(array, network, (2, 2, 2), InferenceSettings(backend="openvino", **settings),
                                       progress=lambda fraction, message: messages.append(message))
    assert got.shape == expected.shape == (20, 24, 18)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert any(message.startswith("converting the model to OpenVINO") for message in messages)
    assert cached_ir_path(network).exists() and cached_ir_path(network).with_suffix(".bin").exists()
    assert not list(tmp_path.rglob("*partial*"))

    messages.clear()  # second run: the cached IR, and auto now takes it for a small job too
    again = sliding_window_super_resolve(array, network, (2, 2, 2), InferenceSettings(backend="auto", **settings),
                                         progress=lambda fraction, message: messages.append(message))
    np.testing.assert_array_equal(again, got)
    assert not any("converting" in message for message in messages)


@needs_openvino
def test_predict_says_which_backend_runs_the_network(monkeypatch, tmp_path, capsys):
    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume

    monkeypatch.setenv("SR3D_CACHE", str(tmp_path / "cache"))
    write_volume(Volume(np.random.default_rng(0).random((6, 6, 6)).astype(np.float32)), tmp_path / "in.nrrd")
    assert main(["predict", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--device", "cpu", "--window", "6",
                 "--progress", "none", "--backend", "torch"]) == 0
    assert "network runs on PyTorch (asked for)" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--device", "cpu", "--window", "6",
                 "--progress", "none", "--precision", "fp32"]) == 0
    assert "network runs on PyTorch (auto: OpenVINO installed, but converting" in capsys.readouterr().out


def test_threads_follow_the_cpus_this_process_may_use(monkeypatch, tmp_path):
    from SuperResolution3DLib.core import devices

    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    cpus = devices.available_cpu_count(quota)
    assert cpus >= 1
    quota.write_text("100000 100000\n")  # a container allowed one CPU
    assert devices.available_cpu_count(quota) == 1
    assert devices.available_cpu_count(tmp_path / "missing") == cpus

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert devices.set_inference_threads() == 1  # the user's OMP_NUM_THREADS wins
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert devices.set_inference_threads() == cpus == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
