"""The real-scan protocol on one volume for the scratch measurements next to this file: a 96x112x96 centre crop
(CT shifted to HU - min) made into ``ratio``-times thicker slices along z with ``profile``, and the crop's PSNR
(interior 8, data range of the HR) of any model's output."""
import numpy as np

from SuperResolution3DLib.core.config import InferenceSettings
from SuperResolution3DLib.data.io import read_volume
from SuperResolution3DLib.evaluation import perceptual as pm
from SuperResolution3DLib.evaluation.evaluate import (EvaluationSettings, degrade_for_evaluation, pad_past_extent,
                                                      prepare_hr_volume, scoring_mask, super_resolve_for_scale)
from SuperResolution3DLib.evaluation.metrics import crop_to_common, psnr


def protocol_crop(path: str, ratio: int, profile: str):
    """``(lr, score)``: the LR crop (a ``Volume``) and ``score(model) -> PSNR`` of the model's output on it."""
    scale = (1, 1, ratio)
    settings = EvaluationSettings(scale=scale, slice_profile=profile, crop=(96, 112, 96), shift_to_zero=True, interior=8)
    hr = prepare_hr_volume(read_volume(path), settings)
    lr = degrade_for_evaluation(hr, scale, settings)
    hr_array = hr.array.astype(np.float32)
    low, high = pm.hr_intensity_range(hr_array)
    mask = scoring_mask(hr_array, settings)

    def score(model) -> float:
        sr = super_resolve_for_scale(lr, hr, model, scale, InferenceSettings()).array.astype(np.float32)
        sr, _ = crop_to_common(sr, hr_array)
        return psnr(pad_past_extent(sr, hr_array.shape, 8), hr_array, data_range=high - low, mask=mask)

    return lr, score
