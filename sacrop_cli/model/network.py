"""The crop-scoring network of "Image Cropping with Spatial-aware Feature and Rank Consistency".

Shapes and coordinates, said once: ``rois`` are ``Tensor[K, 5]`` rows ``(b, x1, y1, x2, y2)``
with ``b`` the image's index in the batch and the box in **network-input pixels**, continuous
coordinates with exclusive ends. Conversion from photo pixels happens in
:mod:`sacrop_cli.model.preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sacrop_cli.errors import CheckpointError
from sacrop_cli.model.backbones import build_backbone
from sacrop_cli.model.checkpoint import Checkpoint
from sacrop_cli.model.format import ScorerConfig

STRIDE = 16  # the fused feature map's stride


def _cover(lo: Tensor, hi: Tensor, n: int) -> Tensor:
    """``[K, n]``: the share of each of ``n`` unit cells covered by the intervals [lo, hi)."""
    cells = torch.arange(n, device=lo.device, dtype=lo.dtype)
    return (torch.minimum(hi[:, None], cells + 1) - torch.maximum(lo[:, None], cells)).clamp(0, 1)


def box_coverage(boxes: Tensor, height: int, width: int) -> Tensor:
    """Soft masks ``[K, 1, height, width]``: the share of each cell covered by each box.

    ``boxes`` is ``[K, 4]`` in units of cells (continuous, exclusive ends). A cell fully
    inside the box is 1, fully outside 0, so the mask moves smoothly with the box.
    """
    cx = _cover(boxes[:, 0], boxes[:, 2], width)
    cy = _cover(boxes[:, 1], boxes[:, 3], height)
    return (cy[:, :, None] * cx[:, None, :]).unsqueeze(1)


def _align_weights(lo: Tensor, hi: Tensor, n: int, size: int) -> Tensor:
    """``[K, size, n]``: RoIAlign's weights along one axis of ``n`` cells for the intervals
    [lo, hi) in cells (torchvision's ``roi_align`` with ``aligned=True, sampling_ratio=2``).

    Bilinear sampling is separable, so the weights of both axes give RoIAlign as two matrix
    products: the same numbers as torchvision's kernel, without importing torchvision (a second
    of start-up) and with the crop-zeroing of :func:`rod_align` expressible on the same weights.
    Each of ``size`` bins averages 2 samples; a sample more than one cell outside the map adds
    nothing, one nearer is clamped to the border cell, as torchvision does.
    """
    bin_size = (hi - lo) / size
    steps = (torch.arange(2 * size, device=lo.device, dtype=lo.dtype) + 0.5) / 2  # [2s] in bins
    y = (lo - 0.5)[:, None] + steps * bin_size[:, None]  # [K, 2s] sample positions, pixel centres
    valid = (y >= -1) & (y <= n)
    y = y.clamp(min=0)
    y_low = y.floor().clamp(max=n - 1)
    frac = torch.where(y_low >= n - 1, torch.zeros_like(y), y - y_low)
    cells = torch.arange(n, device=lo.device, dtype=lo.dtype)
    w = (
        (cells == y_low[..., None]) * (1 - frac)[..., None]
        + (cells == (y_low + 1)[..., None]) * frac[..., None]
    ) * valid[..., None]  # [K, 2s, n]
    return w.reshape(-1, size, 2, n).mean(dim=2)


def _per_image(weights_y: Tensor, features: Tensor, weights_x: Tensor, index: Tensor) -> Tensor:
    """``[K, C, s, s]``: ``weights_y[k] @ features[index[k]] @ weights_x[k].T`` for every crop k.

    Two batched matrix products, which export to ONNX with any number of crops and any map size.
    A single image (inference) broadcasts against every crop without a copy; a batch gathers
    each crop's map first (``[K, C, H, W]``, small with the few fused channels).
    """
    maps = features if features.shape[0] == 1 else features[index]
    return torch.matmul(
        torch.matmul(weights_y[:, None], maps), weights_x[:, None].transpose(-1, -2)
    )


def roi_align(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float) -> Tensor:
    """RoIAlign of ``rois`` on ``features`` ``[B, C, H, W]`` (at ``spatial_scale`` of the input):
    ``[K, C, s, s]``, equal to torchvision's ``roi_align(..., sampling_ratio=2, aligned=True)``."""
    _, _, h, w = features.shape
    boxes = rois[:, 1:] * spatial_scale
    return _per_image(
        _align_weights(boxes[:, 1], boxes[:, 3], h, output_size),
        features,
        _align_weights(boxes[:, 0], boxes[:, 2], w, output_size),
        rois[:, 0].long(),
    )


def rod_align(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float) -> Tensor:
    """RoDAlign: RoIAlign over the whole map with the crop region zeroed (what the crop
    throws away). ``features`` is ``[B, C, H, W]`` at ``spatial_scale`` of the input; returns
    ``[K, C, s, s]``.

    Cells fully inside the crop contribute nothing; border cells are scaled by the share
    outside the crop. Computed without materialising K masked maps: with the separable mask
    ``1 - cov_y x cov_x`` and the whole map's separable weights ``A_h``, ``A_w``, the result is
    ``A_h F A_w^T - (A_h * cov_y) F (A_w * cov_x)^T``.
    """
    _, _, h, w = features.shape
    s = output_size
    zero = features.new_zeros(1)
    a_h = _align_weights(zero, zero + h, h, s)[0]  # [s, H]: the whole map
    a_w = _align_weights(zero, zero + w, w, s)[0]
    boxes = rois[:, 1:] * spatial_scale
    cov_y = _cover(boxes[:, 1], boxes[:, 3], h)  # [K, H]
    cov_x = _cover(boxes[:, 0], boxes[:, 2], w)  # [K, W]
    whole = torch.matmul(torch.matmul(a_h, features), a_w.t())  # [B, C, s, s]
    idx = rois[:, 0].long()
    inside = _per_image(a_h * cov_y[:, None, :], features, a_w * cov_x[:, None, :], idx)
    return whole[idx] - inside


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: weights channels by a gate computed from their global means."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x.mean(dim=(2, 3)))[:, :, None, None]


def activation_map(x: Tensor, grid: int) -> Tensor:
    """Channel-wise max pooling ``[B, C, H, W] -> [B, 1, grid, grid]``, scaled to a peak of 1."""
    act = x.amax(dim=1, keepdim=True)
    act = F.interpolate(act, size=(grid, grid), mode="bilinear", align_corners=False)
    peak = act.flatten(1).amax(dim=1).clamp_min(1e-6)
    return act / peak[:, None, None, None]


class SpatialAwareFeature(nn.Module):
    """Where the crop sits relative to salient objects (high-level map) and edges (low-level map).

    Channel attention, then channel-wise max pooling gives two activation maps per image; the
    crop's mask on the same grid is stacked with them and a small conv net encodes the three.
    """

    def __init__(self, low_channels: int, high_channels: int, grid: int, out_dim: int) -> None:
        super().__init__()
        self.grid = grid
        self.low_attention = ChannelAttention(low_channels)
        self.high_attention = ChannelAttention(high_channels)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 128, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(128 * (grid // 8) ** 2, out_dim),
            nn.ReLU(inplace=True),
        )

    def maps(self, low: Tensor, high: Tensor) -> Tensor:
        """Per-image activation maps ``[B, 2, grid, grid]`` (low-level, high-level)."""
        return torch.cat(
            [
                activation_map(self.low_attention(low), self.grid),
                activation_map(self.high_attention(high), self.grid),
            ],
            dim=1,
        )

    def forward(self, maps: Tensor, rois: Tensor, input_size: tuple[int, int]) -> Tensor:
        width, height = input_size
        # per coordinate rather than one tensor of scales: width and height may be symbolic
        # sizes (an ONNX export with dynamic image size), which torch.tensor cannot hold
        sx, sy = self.grid / width, self.grid / height
        cells = torch.stack(
            [rois[:, 1] * sx, rois[:, 2] * sy, rois[:, 3] * sx, rois[:, 4] * sy], dim=1
        )
        mask = box_coverage(cells, self.grid, self.grid)
        return self.encoder(torch.cat([maps[rois[:, 0].long()], mask], dim=1))


@dataclass
class ImageFeatures:
    """What the heads need from one batch of images, computed once for all its crops."""

    fused: Tensor  # [B, reduced_dim, H/16, W/16]
    maps: Tensor | None  # [B, 2, grid, grid] activation maps (spatial model only)
    input_size: tuple[int, int]  # (width, height) of the network input

    @staticmethod
    def cat(parts: list[ImageFeatures]) -> ImageFeatures:
        """One batch from the features of images of the same input size."""
        if len(parts) == 1:
            return parts[0]
        maps = None if parts[0].maps is None else torch.cat([p.maps for p in parts])
        return ImageFeatures(torch.cat([p.fused for p in parts]), maps, parts[0].input_size)


class CropScorer(nn.Module):
    """Scores candidate crops; also compares two crops of one image (the ranking classifier)."""

    def __init__(self, config: ScorerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ScorerConfig()
        self.backbone = build_backbone(cfg.backbone)
        c_low, c_mid, c_high = self.backbone.channels
        self.reduce = nn.Conv2d(c_low + c_mid + c_high, cfg.reduced_dim, kernel_size=1)
        # a Sequential only so that checkpoints keep the key "content.0.weight"
        self.content = nn.Sequential(
            nn.Conv2d(2 * cfg.reduced_dim, cfg.content_dim, kernel_size=cfg.align_size)
        )
        self.spatial = (
            SpatialAwareFeature(c_low, c_high, cfg.grid, cfg.spatial_dim) if cfg.spatial else None
        )
        fused_dim = cfg.content_dim + (cfg.spatial_dim if cfg.spatial else 0)
        self.embed = nn.Sequential(nn.Linear(fused_dim, cfg.embed_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(cfg.dropout)
        self.regress = nn.Linear(cfg.embed_dim, 1)
        # no bias in the last layer: it would cancel in h(i, j) - h(j, i)
        self.pair = nn.Sequential(
            nn.Linear(3 * cfg.embed_dim, 64), nn.ReLU(inplace=True), nn.Linear(64, 1, bias=False)
        )

    def train(self, mode: bool = True) -> CropScorer:
        """Keep the pretrained backbone's BatchNorm statistics frozen, as GAIC does."""
        super().train(mode)
        for module in self.backbone.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def image_features(
        self, low: Tensor, mid: Tensor, high: Tensor, input_size: tuple[int, int]
    ) -> ImageFeatures:
        """Fuse the stride 8/16/32 maps at stride 16 and build the activation maps."""
        # The input's sides are multiples of 32, so the stride-8 map is exactly twice the
        # stride-16 one and the stride-32 map exactly half: a fixed 2x pooling and a 2x
        # upsampling equal adaptive pooling and resizing to the middle map's size, and unlike
        # those export to ONNX for any image size.
        fused = torch.cat(
            [
                F.avg_pool2d(low, 2),
                mid,
                F.interpolate(high, scale_factor=2.0, mode="bilinear", align_corners=False),
            ],
            dim=1,
        )
        maps = self.spatial.maps(low, high) if self.spatial is not None else None
        # contiguous: a channels-last backbone (optimize_for_inference) makes the fused map
        # channels-last, and roi_align and rod_align read it in the standard layout
        return ImageFeatures(self.reduce(fused).contiguous(), maps, input_size)

    def features(self, images: Tensor) -> ImageFeatures:
        """Backbone once per image: ``images`` is ``[B, 3, H, W]``, H and W multiples of 32."""
        low, mid, high = self.backbone(images)
        return self.image_features(low, mid, high, (images.shape[-1], images.shape[-2]))

    def embed_crops(self, feats: ImageFeatures, rois: Tensor) -> Tensor:
        """Per-crop embeddings ``[K, embed_dim]`` shared by the regression head and the
        classifier."""
        return self.embed_parts(*self.crop_parts(feats, rois))

    def crop_parts(self, feats: ImageFeatures, rois: Tensor) -> tuple[Tensor, Tensor | None]:
        """What the crops' embeddings are made of: the RoI and RoD features flattened,
        ``[K, 2 * reduced_dim * s * s]``, and the spatial-aware feature (None: basic model)."""
        s, scale = self.config.align_size, 1.0 / STRIDE
        roi = roi_align(feats.fused, rois, s, spatial_scale=scale)
        rod = rod_align(feats.fused, rois, s, spatial_scale=scale)
        spatial = None
        if self.spatial is not None:
            spatial = self.spatial(feats.maps, rois, feats.input_size)
        return torch.cat([roi, rod], dim=1).flatten(1), spatial

    def embed_parts(self, aligned: Tensor, spatial: Tensor | None) -> Tensor:
        """The embeddings of :meth:`crop_parts`' parts."""
        return self.embed(self.fused_parts(aligned, spatial))

    def fused_parts(self, aligned: Tensor, spatial: Tensor | None) -> Tensor:
        """The content feature of :meth:`crop_parts`' parts, with the spatial-aware one: the
        embedding layer's input."""
        # The content conv's kernel covers its whole s x s input: it is one matrix product, which
        # F.linear computes faster on the CPU than the convolution does (same function).
        conv = self.content[0]
        parts = [F.relu(F.linear(aligned, conv.weight.flatten(1), conv.bias))]
        if spatial is not None:
            parts.append(spatial)
        return torch.cat(parts, dim=1)

    def score_embeddings(self, emb: Tensor) -> Tensor:
        """The regression head: one score per crop, ``[K]`` (normalised MOS units)."""
        return self.regress(self.dropout(emb)).squeeze(1)

    def compare(self, emb_i: Tensor, emb_j: Tensor) -> Tensor:
        """Logits of P(crop i is better than crop j), ``[P]``; antisymmetric by construction."""

        def h(a: Tensor, b: Tensor) -> Tensor:
            return self.pair(torch.cat([a, b, a - b], dim=1)).squeeze(1)

        return h(emb_i, emb_j) - h(emb_j, emb_i)

    def forward(self, images: Tensor, rois: Tensor) -> Tensor:
        """Scores ``[K]`` of the crops ``rois`` (see module docstring) of ``images``."""
        return self.score_embeddings(self.embed_crops(self.features(images), rois))

    def optimize_for_inference(self) -> CropScorer:
        """Make this network faster for inference, in place; it must not be trained afterwards.

        BatchNorm layers (frozen statistics) are folded into the convolutions before them, and
        the backbone and the spatial-aware feature's encoder run channels-last, which oneDNN
        computes faster on the CPU. Scores change only by float rounding.
        """
        self.eval()
        fold_batch_norms(self.backbone)
        self.backbone.to(memory_format=torch.channels_last)
        if self.spatial is not None:
            self.spatial.encoder.to(memory_format=torch.channels_last)
        return self


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that follows a Conv2d in a Sequential into that conv (the
    BatchNorm becomes an Identity): the same function in eval mode, one layer less to run."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in module.modules():
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1):
                if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                    seq[i], seq[i + 1] = (
                        fuse_conv_bn_eval(seq[i].eval(), seq[i + 1].eval()),
                        nn.Identity(),
                    )
    return module


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_scorer(checkpoint: Checkpoint, device: str | torch.device = "cpu") -> CropScorer:
    """The network a checkpoint describes, with its weights, in float32 and eval mode."""
    model = CropScorer(checkpoint.config)
    state = {k: v.float() for k, v in checkpoint.state_dict.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit the network they describe: {first}") from exc
    return model.to(device).eval()
