"""3D RRDBNet: the generator of the 3D RRDB-GAN (ESRGAN's RRDBNet with 3D convolutions)."""

from __future__ import annotations

import inspect
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from SuperResolution3DLib.networks.blocks import RESIDUAL_SCALE, RRDB3D, PixelShuffle3D, nearest_upsample, upsampling_stages
from SuperResolution3DLib.networks.interpolation import InterpolationUpsampler3D

UPSAMPLERS = ("nearest_conv", "pixel_shuffle")


class RRDBNet3D(nn.Module):
    """3D Residual-in-Residual Dense Block network.

    conv_first -> ``num_block`` RRDBs -> conv_body (+ conv_first features) -> the upsampling tail:

    * ``nearest_conv`` (ESRGAN, the paper): per stage nearest upsampling -> conv -> LeakyReLU, then
      conv_hr -> LeakyReLU -> conv_last, all at the output resolution.
    * ``pixel_shuffle`` (sub-pixel, for CPU budgets): per stage a conv to ``num_feat * f`` channels
      (``f`` voxels per input voxel of the stage) -> ``PixelShuffle3D`` -> LeakyReLU, except the last
      stage, whose conv gives ``out_channels * f`` channels shuffled straight into the output. No
      convolution runs at the output resolution, so the tail costs a few percent of the trunk.

    With ``global_skip="trilinear"`` the network adds its output to the project's trilinear
    upsampling of the input (LR voxel ``i`` on output voxel ``scale * i``) and so learns the residual
    over trilinear interpolation; ``None`` (the paper) has no global skip.

    Args:
        in_channels: channels of the input volume.
        out_channels: channels of the output volume.
        num_feat: feature channels of the trunk (paper: 64).
        num_grow_ch: growth channels of the dense blocks (paper: 32).
        num_block: number of RRDB blocks (paper: 23).
        scale: integer upscaling factor per axis in ``(x, y, z)`` order, e.g. ``(4, 4, 4)`` or ``(1, 1, 4)``.
        upsampler: ``nearest_conv`` (paper) or ``pixel_shuffle``.
        global_skip: ``None`` (paper) or ``trilinear`` (needs ``in_channels == out_channels``).

    Input ``(N, in_channels, D, H, W)``; output ``(N, out_channels, D*sz, H*sy, W*sx)``.
    The paper's 64/32/23 configuration at scale 4 has about 50 M parameters.

    ``forward_in_slabs(x, slab)`` gives the same output with the ``nearest_conv`` tail run in slabs of
    ``slab`` input slices along D, each with a halo of input slices that covers the tail's receptive field,
    so the tail's full-resolution feature maps stay bounded (the inference layer decides when to use it).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_feat: int = 64,
        num_grow_ch: int = 32,
        num_block: int = 23,
        scale: Sequence[int] = (4, 4, 4),
        upsampler: str = "nearest_conv",
        global_skip: Optional[str] = None,
    ) -> None:
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"unknown upsampler {upsampler!r}; choose one of {UPSAMPLERS}")
        if global_skip not in (None, "trilinear"):
            raise ValueError(f"global_skip must be None or 'trilinear', got {global_skip!r}")
        if global_skip and in_channels != out_channels:
            raise ValueError("global_skip needs in_channels == out_channels")
        self.scale = tuple(int(s) for s in scale)
        self.stages = upsampling_stages(self.scale)
        self.upsampler = upsampler
        self.conv_first = nn.Conv3d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB3D(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        if upsampler == "nearest_conv":
            self.conv_up = nn.ModuleList(nn.Conv3d(num_feat, num_feat, 3, 1, 1) for _ in self.stages)
            self.conv_hr = nn.Conv3d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv3d(num_feat, out_channels, 3, 1, 1)
        else:
            voxels = [f[0] * f[1] * f[2] for f in self.stages]
            widths = [num_feat] * (len(self.stages) - 1) + [out_channels]
            self.conv_up = nn.ModuleList(nn.Conv3d(num_feat, w * v, 3, 1, 1) for w, v in zip(widths, voxels))
            self.shuffles = nn.ModuleList(PixelShuffle3D(f) for f in self.stages)
        self.base = InterpolationUpsampler3D("trilinear", self.scale) if global_skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_in_slabs(x, 0)

    def forward_in_slabs(self, x: torch.Tensor, slab: int) -> torch.Tensor:
        """``forward(x)``, with the ``nearest_conv`` tail in slabs of ``slab`` input slices (0: one pass)."""
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        if self.upsampler == "pixel_shuffle":
            out = self.pixel_shuffle_tail(feat)
        elif slab <= 0 or feat.shape[2] <= slab:
            out = self.upsample_tail(feat)
        else:
            out = self.upsample_tail_in_slabs(feat, slab)
        return out if self.base is None else out + self.base(x)

    def pixel_shuffle_tail(self, feat: torch.Tensor) -> torch.Tensor:
        """Trunk features -> the output, with sub-pixel convolutions (no conv at the output resolution)."""
        last = len(self.conv_up) - 1
        for k, (conv, shuffle) in enumerate(zip(self.conv_up, self.shuffles)):
            feat = shuffle(conv(feat))
            if k < last:
                feat = self.lrelu(feat)
        return feat

    def upsample_tail(self, feat: torch.Tensor) -> torch.Tensor:
        """Trunk features ``(N, num_feat, D, H, W)`` -> the high-resolution output (nearest_conv tail)."""
        for factor, conv in zip(self.stages, self.conv_up):
            feat = self.lrelu(conv(nearest_upsample(feat, factor)))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))

    def tail_reach_d(self) -> int:
        """Input slices along D that one output slice of the tail depends on, on each side.

        Each 3x3x3 conv reaches one voxel at its own resolution, i.e. ``1 / (D scale so far)`` input
        slices; nearest upsampling adds less than one more.
        """
        reach, scale_so_far = 0.0, 1
        for factor in self.stages:
            scale_so_far *= factor[0]
            reach += 1.0 / scale_so_far
        reach += 2.0 / scale_so_far  # conv_hr and conv_last
        return int(math.ceil(reach)) + 1

    def upsample_tail_in_slabs(self, feat: torch.Tensor, slab: int) -> torch.Tensor:
        halo = self.tail_reach_d()
        scale_d = self.scale[2]
        pieces = []
        for start in range(0, feat.shape[2], slab):
            stop = min(start + slab, feat.shape[2])
            low, high = max(0, start - halo), min(feat.shape[2], stop + halo)
            out = self.upsample_tail(feat[:, :, low:high])
            pieces.append(out[:, :, (start - low) * scale_d : (stop - low) * scale_d])
        return torch.cat(pieces, dim=2)


def rrdb_block_count(state: Dict[str, torch.Tensor]) -> int:
    """Number of RRDB blocks in an ``RRDBNet3D`` state dict (its ``body.<i>.`` entries)."""
    indices = {int(name.split(".")[1]) for name in state if name.startswith("body.")}
    return max(indices) + 1 if indices else 0


def deepened_state_dict(state: Dict[str, torch.Tensor], num_block: int) -> Dict[str, torch.Tensor]:
    """The weights of a trained ``RRDBNet3D`` grown to ``num_block`` RRDB blocks, same function.

    New blocks go after the trained ones. In each, every dense block's last convolution starts at zero, so the
    dense blocks pass their input through and the RRDB multiplies it by ``1 + RESIDUAL_SCALE``; ``conv_body``,
    the only reader of the trunk, is divided by that factor once per new block. The grown network's output equals
    the trained one's (up to rounding), and the new blocks learn from there (their last convolutions get gradients
    at once; their other convolutions keep ESRGAN's scaled Kaiming start).

    Input: a state dict with ``k <= num_block`` blocks; output: a new state dict (``state`` is not changed).
    """
    trained = rrdb_block_count(state)
    if trained == 0:
        raise ValueError("the state dict has no RRDB blocks to grow from (no body.<i>. weights): not an RRDBNet3D")
    if num_block < trained:
        raise ValueError(f"cannot shrink an RRDBNet3D from {trained} to {num_block} blocks")
    weight = state["body.0.rdb1.convs.0.weight"]
    num_grow_ch, num_feat = int(weight.shape[0]), int(weight.shape[1])
    grown = dict(state)
    for index in range(trained, num_block):
        block = RRDB3D(num_feat, num_grow_ch)
        for dense in (block.rdb1, block.rdb2, block.rdb3):
            nn.init.zeros_(dense.convs[4].weight)
            nn.init.zeros_(dense.convs[4].bias)
        for name, tensor in block.state_dict().items():
            grown[f"body.{index}.{name}"] = tensor.to(weight.dtype)
    grown["conv_body.weight"] = state["conv_body.weight"] / (1 + RESIDUAL_SCALE) ** (num_block - trained)
    return grown


def _widened_conv(old_w: torch.Tensor, old_b: torch.Tensor, fresh_w: torch.Tensor, in_places: Sequence[int]):
    """A wide conv's ``(weight, bias)``: output channel ``c`` (in the sub-pixel tail, ``c * v + s``) keeps its index
    and its trained weights on the old input channels' ``in_places``; the weights that read new channels are
    ``fresh_w``'s (a new network's start); the new output channels start at zero, so they carry zeros."""
    rows = old_w.shape[0]
    weight = fresh_w.clone().to(old_w.dtype)
    weight[rows:] = 0
    weight[:rows, list(in_places)] = old_w
    bias = torch.zeros(fresh_w.shape[0], dtype=old_b.dtype)
    bias[:rows] = old_b
    return weight, bias


def widened_state_dict(state: Dict[str, torch.Tensor], config: Dict[str, object]) -> Dict[str, torch.Tensor]:
    """The weights of a trained ``RRDBNet3D`` widened to ``config``'s ``num_feat`` / ``num_grow_ch``, same function.

    Every convolution keeps its trained weights on the old channels; the new output channels start at zero (so the new
    trunk and growth channels carry zeros and the output is unchanged), and the weights that read new channels start
    as a fresh network's, so the new channels get gradients at once. ``config``: the wide network's settings (as in a
    training config); ``state`` is not changed.
    """
    fresh = RRDBNet3D(**{k: v for k, v in config.items() if k != "name"}).state_dict()
    old_feat, new_feat = int(state["conv_first.weight"].shape[0]), int(fresh["conv_first.weight"].shape[0])
    old_grow, new_grow = int(state["body.0.rdb1.convs.0.weight"].shape[0]), int(fresh["body.0.rdb1.convs.0.weight"].shape[0])
    if new_feat < old_feat or new_grow < old_grow:
        raise ValueError(f"cannot narrow an RRDBNet3D ({old_feat}/{old_grow} -> {new_feat}/{new_grow} channels)")

    def input_places(name: str, columns: int):
        """Where a conv's old input channels sit in the wide network: the same places, except in a dense block,
        whose input ``[x, x1, ..., x_i]`` has wider pieces."""
        if ".convs." not in name:
            return list(range(columns))
        count = int(name.split(".convs.")[1].split(".")[0])
        return list(range(old_feat)) + [new_feat + k * new_grow + j for k in range(count) for j in range(old_grow)]

    widened = dict(state)
    for name, old_w in state.items():
        if name.endswith(".weight") and old_w.dim() == 5:
            stem = name[: -len(".weight")]
            widened[name], widened[f"{stem}.bias"] = _widened_conv(old_w, state[f"{stem}.bias"], fresh[name],
                                                                   input_places(name, old_w.shape[1]))
    return widened


def grown_state_dict(state: Dict[str, torch.Tensor], config: Dict[str, object]) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
    """A trained ``RRDBNet3D``'s weights grown to the wider and / or deeper network ``config`` describes (a training
    config's ``network``), with the same output (``widened_state_dict``, then ``deepened_state_dict``), and a note of
    what grew (``None``: nothing to grow; a narrower or shallower config is left for the loader to refuse)."""
    if config.get("name") != "RRDBNet3D" or rrdb_block_count(state) == 0:
        return state, None
    defaults = {name: p.default for name, p in inspect.signature(RRDBNet3D).parameters.items()}
    wanted = {key: int(config.get(key, defaults[key])) for key in ("num_feat", "num_grow_ch", "num_block")}
    feat, grow = int(state["conv_first.weight"].shape[0]), int(state["body.0.rdb1.convs.0.weight"].shape[0])
    notes = []
    if (wanted["num_feat"], wanted["num_grow_ch"]) != (feat, grow) and wanted["num_feat"] >= feat and wanted["num_grow_ch"] >= grow:
        state = widened_state_dict(state, config)
        notes.append(f"widened from {feat} / {grow} to {wanted['num_feat']} / {wanted['num_grow_ch']} channels "
                     "(the new channels start at zero)")
    trained = rrdb_block_count(state)
    if trained < wanted["num_block"]:
        state = deepened_state_dict(state, wanted["num_block"])
        notes.append(f"grown from {trained} to {wanted['num_block']} RRDB blocks (the new blocks start as identities)")
    return state, ", ".join(notes) or None
