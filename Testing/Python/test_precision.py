"""Precision chosen by capability: ``auto`` is bf16 autocast where the hardware computes bf16, and bf16 costs the
sample less than 0.05 dB PSNR against its HR volume (issue: CPU inference at the hardware's limit)."""

import pytest

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.core.precision import cpu_has_native_bf16, describe_precision


def test_auto_is_the_default_and_the_log_says_what_it_chose(monkeypatch, tmp_path, capsys):
    from SuperResolution3DLib.core import precision

    assert InferenceSettings().precision == "auto"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert describe_precision("auto", "cpu") == "bf16 (auto: this CPU has avx512_bf16)"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert describe_precision("auto", "cpu").startswith("fp32 (auto: no native bf16")
    assert describe_precision("bf16", "cpu") == "bf16 (asked for)"


def test_predict_prints_the_precision_it_runs_in(tmp_path, capsys):
    import numpy as np

    from SuperResolution3DLib.cli import main
    from SuperResolution3DLib.core.volume import Volume
    from SuperResolution3DLib.data.io import write_volume

    write_volume(Volume(np.random.default_rng(0).random((6, 6, 6)).astype(np.float32)), tmp_path / "in.nrrd")
    assert main(["predict", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--device", "cpu",
                 "--window", "6", "--progress", "none"]) == 0
    expected = "bf16 (auto: this CPU has" if cpu_has_native_bf16() else "fp32 (auto: no native bf16"
    assert f"threads), precision {expected}" in capsys.readouterr().out


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (emulated bf16 is ~45x slower)")
def test_bf16_changes_the_sample_psnr_by_less_than_five_hundredths_of_a_db():
    from SuperResolution3DLib.core.paths import sample_data_dir
    from SuperResolution3DLib.data.io import read_volume
    from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr
    from SuperResolution3DLib.inference.api import super_resolve

    lr = read_volume(sample_data_dir() / "MNI152_2009c_T1_brain_LR4mm.nrrd")
    hr = read_volume(sample_data_dir() / "MNI152_2009c_T1_brain_HR1mm.nrrd").array
    scores = {}
    for name in ("fp32", "bf16"):
        sr = super_resolve(lr, "default", InferenceSettings(device="cpu", precision=name)).array
        sr, reference = crop_to_common(sr, hr)
        scores[name] = psnr(sr, reference, data_range=float(reference.max() - reference.min()))
    assert abs(scores["bf16"] - scores["fp32"]) < 0.05, scores
