"""The real-scan protocol on one volume for the scratch measurements next to this file: a 96x112x96 centre crop
(CT shifted to HU - min) made into ``ratio``-times thicker slices along z with ``profile``, and the crop's PSNR
(interior 8, data range of the HR) of any model's output, as ``sr3d evaluate`` scores it."""

from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.evaluation.evaluate import (EvaluationSettings, degrade_for_evaluation, evaluate_methods,
                                                      prepare_hr_volume)


def protocol_crop(path: str, ratio: int, profile: str):
    """``(lr, score)``: the LR crop (a ``Volume``) and ``score(model) -> PSNR`` of the model's output on it."""
    scale = (1, 1, ratio)
    settings = EvaluationSettings(scale=scale, slice_profile=profile, crop=(96, 112, 96), shift_to_zero=True, interior=8,
                                  metrics=("psnr",), figure_subject=None)
    lr = degrade_for_evaluation(prepare_hr_volume(read_volume(path), settings), scale, settings)

    def score(model) -> float:
        result = evaluate_methods([path], {"model": model}, settings, progress=False, log=None)
        return float(result.rows[0]["psnr"])

    return lr, score
