"""Training data: volumes -> (LR, HR) patch pairs made with the k-space degradation.

Each volume is loaded once, its k-space low-pass image (degradation steps 1-3) is computed on
the whole volume, and the intensity mapping is fitted on the degraded LR volume exactly as
inference will fit it. A patch pair is then an HR crop at any offset plus the same crop of the
low-pass image, flipped / axis-permuted together, with the LR patch taken as every
``scale``-th voxel of the low-pass crop (degradation step 4). Because the low-pass filter
commutes with flips and axis permutations, every augmented pair is exactly what the
degradation would make of the augmented volume, and the LR-voxel-on-HR-voxel grid relation
holds for every pair. With ``slice_profile`` degradation the LR patch is made from the augmented HR patch
instead, and ``data.thick_ratios`` may first stretch that patch's anatomy along the thick axis (a 4x through-plane
model learning the slices of 2x to 6x scans). A thick-slice training volume (``core.anisotropy``: e.g. 0.8 x 0.8 x
6.5 mm) serves through-plane training with its in-plane axes only (SMORE's idea, at training time): its thick
axis is resampled onto the in-plane spacing to make room for the cube patches, and only an in-plane axis is ever
made the thick one.
"""

from __future__ import annotations

import collections
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from SuperResolution3DLib.data.degradation import (fourier_resample, kspace_lowpass, kspace_truncate, nearest_downsample,
                                                   resample_axis, resample_axis_spectrally)
from SuperResolution3DLib.data.normalization import fit_intensity_mapping
from SuperResolution3DLib.core.anisotropy import find_thick_slices, finest_in_plane_axes
from SuperResolution3DLib.core.config import DataConfig
from SuperResolution3DLib.core.errors import TrainingConfigError
from SuperResolution3DLib.core.folds import kfold_split
from SuperResolution3DLib.core.paths import expand_volume_entries
from SuperResolution3DLib.core.volume import Volume

@dataclass
class TrainingVolume:
    """A normalised HR volume, its k-space low-pass image (same grid) and its foreground voxels."""

    name: str
    hr: np.ndarray
    lowpass: np.ndarray
    foreground: np.ndarray  # (K, 3) voxel indices [z, y, x]
    thick_axes: Tuple[int, ...] = (0, 1, 2)  # array axes that may be made the thick one (a thick-slice scan's in-plane axes)


def prepare_training_volume(
    name: str, array: np.ndarray, scale: Sequence[int], normalization: dict, foreground_threshold: float,
    degradation: str = "kspace", thick_axes: Tuple[int, ...] = (0, 1, 2),
) -> TrainingVolume:
    """Normalise a training volume; with ``kspace`` degradation its low-pass image is made once here (patches
    of ``slice_profile`` degradation are made from the HR patch, so the HR volume stands in for it)."""
    hr = np.asarray(array, dtype=np.float32)
    lowpass = kspace_lowpass(hr, scale) if degradation == "kspace" else hr
    mapping = fit_intensity_mapping(nearest_downsample(lowpass, scale), normalization)
    hr, lowpass = mapping.forward(hr), mapping.forward(lowpass)
    foreground = np.argwhere(hr > foreground_threshold).astype(np.int32)
    return TrainingVolume(name, hr, lowpass, foreground, tuple(thick_axes))


def through_plane_training_array(volume: Volume) -> Tuple[np.ndarray, Tuple[int, ...]]:
    """``(array, thick_axes)`` of a volume for through-plane training: an isotropic one as it is (any axis may be
    the thick one); a thick-slice one with its thick axis resampled (cubic B-spline) onto the in-plane spacing and
    only its in-plane array axes allowed, since its own slices hold no fine detail to learn from. With non-square
    pixels the coarser in-plane axis is resampled too and not allowed: only the finer one holds that detail."""
    thick = find_thick_slices(volume.spacing)
    if thick is None:
        return volume.array, (0, 1, 2)
    finest = finest_in_plane_axes(volume.spacing, thick)
    for axis in range(3):
        if axis not in finest:
            volume = resample_axis(volume, axis, thick.in_plane)
    return volume.array, tuple(sorted(2 - a for a in finest))


def load_training_volumes(paths: Sequence[Path], scale, normalization: dict, foreground_threshold: float,
                          degradation: str = "kspace", voxel_scales: Sequence[float] = (1.0,)) -> List[TrainingVolume]:
    """Each volume once per voxel scale (``DataConfig.voxel_scales``), named ``name`` or ``name@1.5x``."""
    from SuperResolution3DLib.data.io import read_volume

    volumes = []
    for path in paths:
        volume = read_volume(path)
        if degradation == "slice_profile":
            array, thick_axes = through_plane_training_array(volume)
        else:
            _refuse_thick_slices(volume, Path(path).name)
            array, thick_axes = volume.array, (0, 1, 2)
        for factor in voxel_scales:
            name = Path(path).name if factor == 1.0 else f"{Path(path).name}@{factor:g}x"
            volumes.append(prepare_training_volume(name, fourier_resample(array, float(factor)), scale, normalization,
                                                   foreground_threshold, degradation, thick_axes))
    return volumes


def _refuse_thick_slices(volume: Volume, name: str) -> None:
    """An isotropic model's training volume may not be a thick-slice one by the rule of ``sr3d predict``
    (``find_thick_slices``); a 0.7 x 0.7 x 1.25 mm CT is not."""
    if find_thick_slices(volume.spacing) is not None:
        raise TrainingConfigError(
            f"training volume {name} has thick slices ({' x '.join(f'{s:g}' for s in volume.spacing)} mm): it holds no "
            "fine detail along its slices for an isotropic model to learn; use it to train a through-plane model "
            "(data.degradation: slice_profile) or leave it out"
        )


class PatchSampler:
    """Draws augmented (LR, HR) patch pairs from training volumes.

    ``sample(rng)`` returns float32 arrays: LR ``[z, y, x]`` of ``patch_size / scale`` and HR
    ``[z, y, x]`` of ``patch_size`` per axis. Volumes are drawn uniformly; a patch centre comes
    from the foreground with ``foreground_probability``, otherwise from anywhere.
    """

    def __init__(self, volumes: Sequence[TrainingVolume], scale: Sequence[int], data: DataConfig) -> None:
        if not volumes:
            raise TrainingConfigError("no training volumes to sample patches from")
        self.volumes = list(volumes)
        self.scale = tuple(int(s) for s in scale)
        self.data = data
        self.patch = data.patch_size
        for volume in self.volumes:
            if min(volume.hr.shape) < self.patch:
                raise TrainingConfigError(
                    f"volume {volume.name} {volume.hr.shape[::-1]} is smaller than patch_size {self.patch}; "
                    "lower data.patch_size"
                )

    def _corner(self, volume: TrainingVolume, rng: np.random.Generator, edge: int) -> np.ndarray:
        shape = np.asarray(volume.hr.shape)
        if len(volume.foreground) and rng.random() < self.data.foreground_probability:
            centre = volume.foreground[rng.integers(len(volume.foreground))]
        else:
            centre = rng.integers(0, shape)
        return np.clip(centre - edge // 2, 0, shape - edge)

    def _geometric_augment(self, pair: Tuple[np.ndarray, np.ndarray], rng: np.random.Generator,
                           thick_axes: Tuple[int, ...] = (0, 1, 2)):
        hr, lowpass = pair
        order = None
        if self.data.augment_axis_permutations:
            order = self._axis_permutation(rng, thick_axes)
        elif 0 not in thick_axes:  # no augmentation (validation), but axis 0 must not be a thick-slice scan's own
            order = (thick_axes[0],) + tuple(a for a in range(3) if a != thick_axes[0])
        if order is not None:
            hr, lowpass = hr.transpose(order), lowpass.transpose(order)
        if self.data.augment_flips:
            for axis in range(3):
                if rng.random() < 0.5:
                    hr, lowpass = np.flip(hr, axis), np.flip(lowpass, axis)
        return hr, lowpass

    def _intensity_augment(self, pair: Tuple[np.ndarray, np.ndarray], rng: np.random.Generator):
        hr, lowpass = pair
        if self.data.augment_noise > 0 and rng.random() < self.data.augment_noise_probability:
            hr, lowpass = self._add_noise(hr, lowpass, rng)
        if self.data.augment_intensity > 0:
            gain = 1.0 + rng.uniform(-self.data.augment_intensity, self.data.augment_intensity)
            bias = rng.uniform(-self.data.augment_intensity, self.data.augment_intensity)
            hr, lowpass = hr * gain + bias, lowpass * gain + bias
        return hr, lowpass

    def _add_noise(self, hr: np.ndarray, lowpass: np.ndarray, rng: np.random.Generator):
        """White Gaussian noise on HR; its k-space low-pass (on the patch) joins the low-pass patch.

        The degradation is linear before its magnitude step, so this is the pair the degradation would
        make of the noisy volume, up to the magnitude of the (mostly positive) low-pass image.
        """
        sigma = rng.uniform(0.0, self.data.augment_noise)
        noise = rng.normal(0.0, sigma, hr.shape).astype(np.float32)
        noise_lowpass = np.real(kspace_truncate(noise, self.scale)).astype(np.float32)
        return hr + noise, lowpass + noise_lowpass

    def _axis_permutation(self, rng: np.random.Generator, thick_axes: Tuple[int, ...] = (0, 1, 2)) -> Tuple[int, int, int]:
        """A random permutation of the ``[z, y, x]`` axes that only swaps axes with equal scale.

        With ``slice_profile`` degradation the LR patch is made after this step, so any axis of the volume
        may become the thick one (sagittal and coronal thick slices are as common as axial ones), or any of
        ``thick_axes`` (a thick-slice scan's in-plane axes) where that is fewer."""
        if self.data.degradation == "slice_profile":
            if len(thick_axes) == 3:
                return tuple(int(a) for a in rng.permutation(3))
            first = int(thick_axes[rng.integers(len(thick_axes))])
            rest = [a for a in range(3) if a != first]
            return (first,) + tuple(int(a) for a in rng.permutation(rest))
        scale_zyx = self.scale[::-1]
        order = list(range(3))
        for group_scale in set(scale_zyx):
            axes = [a for a in range(3) if scale_zyx[a] == group_scale]
            for a, b in zip(axes, rng.permutation(axes)):
                order[a] = int(b)
        return tuple(order)

    def _thick_slices(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The LR patch of ``slice_profile`` degradation: a random profile and thickness along the thick axis."""
        from SuperResolution3DLib.data.slice_profiles import thick_slice_degrade

        axis = next(a for a, s in enumerate(self.scale) if s > 1)
        factor = self.scale[axis]
        profile = self.data.slice_profiles[rng.integers(len(self.data.slice_profiles))]
        thickness = factor * rng.uniform(*self.data.slice_thickness)
        return thick_slice_degrade(Volume(np.asarray(hr, np.float32)), axis, factor, profile, thickness).array

    def _thick_stretch(self, rng: np.random.Generator) -> float:
        """f / r for a thick-slice ratio r drawn log-uniformly in ``data.thick_ratios`` (1.0: the model's own f)."""
        ratios = self.data.thick_ratios
        if ratios is None or rng.random() >= self.data.thick_ratio_probability:
            return 1.0
        factor = max(self.scale)
        return factor / float(np.exp(rng.uniform(np.log(ratios[0]), np.log(ratios[1]))))

    def _crop_edge(self, volume: TrainingVolume, stretch: float) -> int:
        """The edge of the cube a patch is cut from: the patch's, or enough more that the thick axis can be
        compressed by ``stretch`` (a volume too small for that cube is compressed as far as it allows)."""
        if stretch == 1.0:
            return self.patch
        return min(int(np.ceil(self.patch / min(stretch, 1.0))) + 4, min(volume.hr.shape))

    def _stretch_thick_axis(self, hr: np.ndarray, stretch: float) -> np.ndarray:
        """Axis 0 (the thick one after augmentation) resampled by ``stretch``; the centre ``patch``-edge cube."""
        hr = resample_axis_spectrally(hr, 0, max(self.patch, int(round(hr.shape[0] * stretch))))
        start = [(n - self.patch) // 2 for n in hr.shape]
        return hr[tuple(slice(a, a + self.patch) for a in start)]

    def sample(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        volume = self.volumes[rng.integers(len(self.volumes))]
        stretch = self._thick_stretch(rng)
        edge = self._crop_edge(volume, stretch)
        z, y, x = self._corner(volume, rng, edge)
        box = (slice(z, z + edge), slice(y, y + edge), slice(x, x + edge))
        hr, lowpass = self._geometric_augment((volume.hr[box], volume.lowpass[box]), rng, volume.thick_axes)
        if stretch != 1.0:  # slice_profile only (config check): its LR patch is made from the HR patch below
            hr = lowpass = self._stretch_thick_axis(hr, stretch)
        hr, lowpass = self._intensity_augment((hr, lowpass), rng)
        if self.data.degradation == "slice_profile":  # from the augmented HR patch (noise included)
            lr = self._thick_slices(hr, rng)
        else:
            lr = nearest_downsample(lowpass, self.scale)
        return np.ascontiguousarray(lr, dtype=np.float32), np.ascontiguousarray(hr, dtype=np.float32)

    def batch(self, rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
        pairs = [self.sample(rng) for _ in range(size)]
        return np.stack([p[0] for p in pairs])[:, None], np.stack([p[1] for p in pairs])[:, None]


_POOLED_SAMPLER = None  # the sampler forked workers inherit (set just before the pool forks them)


def _draw_pooled_batch(seed_key_and_size):
    seed_key, size = seed_key_and_size
    return _POOLED_SAMPLER.batch(np.random.default_rng(seed_key), size)


def batch_seed_key(seed: int, rank: int, index: int) -> Tuple[int, int, int]:
    """The random stream of batch ``index`` of process ``rank`` when batches are drawn by workers."""
    return (seed, rank, index)


class PatchBatchPool:
    """Batches drawn ahead by ``workers`` forked processes that share the loaded volumes (``DataConfig.workers``).

    Batch ``i`` is ``sampler.batch(default_rng(batch_seed_key(seed, rank, i)), batch_size)`` whichever worker draws
    it, so the stream depends on the batch index alone: a run resumed at step ``k`` (``first_batch=k``) draws what an
    uninterrupted run would have. ``depth`` batches per worker are kept in flight.
    """

    def __init__(self, sampler: PatchSampler, workers: int, batch_size: int, seed: int, rank: int = 0,
                 first_batch: int = 0, depth: int = 2) -> None:
        global _POOLED_SAMPLER
        if "fork" not in multiprocessing.get_all_start_methods():
            raise TrainingConfigError("data.workers needs processes started by fork (Linux, macOS); set data.workers: 0")
        _POOLED_SAMPLER = sampler
        self.pool = multiprocessing.get_context("fork").Pool(workers)
        self.batch_size, self.seed, self.rank, self.next_index = batch_size, seed, rank, first_batch
        self.pending = collections.deque(self._submit() for _ in range(workers * depth))

    def _submit(self):
        key = batch_seed_key(self.seed, self.rank, self.next_index)
        self.next_index += 1
        return self.pool.apply_async(_draw_pooled_batch, ((key, self.batch_size),))

    def next(self) -> Tuple[np.ndarray, np.ndarray]:
        """The next batch ``(lr, hr)``, as ``PatchSampler.batch`` returns it."""
        batch = self.pending.popleft().get()
        self.pending.append(self._submit())
        return batch

    def close(self, timeout: float = 60.0) -> None:
        """Let the batches in flight finish, then stop the workers.

        ``Pool.terminate`` while a worker is writing a batch (larger than a pipe's buffer) can leave the pool's
        result thread waiting forever for the rest of it, and ``terminate`` then waits for that thread: a hang
        seen in the test suite. Draining first avoids it; ``terminate`` stays the fallback for a worker that
        does not finish within ``timeout`` seconds."""
        self.pool.close()
        deadline = time.monotonic() + timeout
        for pending in self.pending:
            pending.wait(max(0.0, deadline - time.monotonic()))
        if not all(pending.ready() for pending in self.pending):
            self.pool.terminate()
        self.pool.join()
        self.pending.clear()


def split_volume_entries(data: DataConfig, base_dir: str = ".") -> Tuple[List[Path], List[Path], List[Path]]:
    """``(train, validation, test)`` volume paths of a data config, with its k-fold selection applied."""
    train = expand_volume_entries(data.train, base_dir)
    validation = expand_volume_entries(data.validation, base_dir)
    test = expand_volume_entries(data.test, base_dir)
    if data.folds:
        try:
            train, held_out = kfold_split(train, data.folds, data.fold)
        except ValueError as error:
            raise TrainingConfigError(f"data.folds: {error}") from None
        test = held_out + [p for p in test if p not in held_out]
    return train, validation, test
