"""Benchmark scripts: the GPU benchmark runs (a CPU smoke run) and writes its JSON and Markdown, so it is ready for a
GPU; the ECLARE comparison refuses options it cannot use before any work."""

import importlib.util
import json
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_throughput_smoke_run_writes_json_and_markdown(tmp_path):
    script = load_script("gpu_throughput")
    out = tmp_path / "bench"
    assert script.main(["--device", "cpu", "--quick", "--networks", "default", "--precisions", "fp32,fp16",
                        "--peak-tflops", "fp32=0.5", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    measured, skipped = report["rows"]
    assert measured["precision"] == "fp32" and measured["output_voxels_per_s"] > 0 and measured["tflops"] > 0
    assert 0 < measured["percent_of_peak"] == 100 * measured["tflops"] / 0.5
    assert "needs a CUDA GPU" in skipped["skipped"]
    assert "| fp32 | 1 | 8 |" in out.with_suffix(".md").read_text()
    assert script.device_peaks("NVIDIA H200", "")["bf16"] == 989.0 and script.device_peaks("unknown", "") == {}


def test_eclare_comparison_refuses_calibration_patch_counts_it_cannot_use(capsys):
    path = BENCHMARKS.parent / "docs" / "results" / "thick_slices" / "compare_with_eclare.py"
    spec = importlib.util.spec_from_file_location("compare_with_eclare", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.calibration_patches("256,1024") == (256, 1024)
    for bad in ("192", "192,64", "0,64", "a,b"):
        try:
            script.main(["hr.nii.gz", "--calibration-patches", bad])
        except SystemExit as stop:
            assert stop.code == 2
        else:
            raise AssertionError(f"--calibration-patches {bad} was accepted")
        assert "--calibration-patches" in capsys.readouterr().err


def test_gpu_throughput_scores_fp32_convolutions_against_the_tf32_peak_when_cudnn_may_use_it():
    script = load_script("gpu_throughput")
    assert script.peak_name("fp32", "cuda", True) == "tf32"
    assert script.peak_name("fp32", "cuda", False) == "fp32" and script.peak_name("fp32", "cpu", True) == "fp32"
    assert script.peak_name("bf16", "cuda", True) == "bf16"
    assert script.device_peaks("NVIDIA H200", "")["tf32"] == 494.7


def test_thick_slice_timing_runs_on_a_small_synthetic_scan(tmp_path, capsys):
    script = load_script("thick_slice_time")
    out = tmp_path / "thick.json"
    assert script.main(["--size", "48,48,12", "--adapt-minutes", "0.002", "--crops", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["size"] == [48, 48, 12] and report["output_size"] == [48, 48, 48]  # 4 mm slices -> 1 mm
    assert report["adaptation_steps"] >= 1 and report["inference_seconds"] > 0 and report["peak_memory_gb"] > 0
    assert "the 5-minute target" in capsys.readouterr().out
    assert script.main(["--size", "16,16,16", "--no-adapt"]) == 0  # 1 x 1 x 4 mm: still thick


def test_slice_consistency_timing_runs_on_a_small_output(tmp_path, capsys):
    script = load_script("slice_consistency_time")
    out = tmp_path / "consistency.json"
    assert script.main(["--size", "40,36,48", "--profiles", "gaussian,sinc", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [row["profile"] for row in report["rows"]] == ["gaussian", "sinc"]
    assert all(row["seconds"] >= 0 and row["peak_bytes"] > 40 * 36 * 48 * 4 for row in report["rows"])
    assert "sinc: " in capsys.readouterr().out
