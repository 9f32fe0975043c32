from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align as tv_roi_align

from sacrop_cli.model.network import (
    CropScorer,
    ScorerConfig,
    _per_image,
    box_coverage,
    count_parameters,
    rod_align,
    roi_align,
)
from sacrop_cli.model.preprocess import boxes_to_rois, input_size


@pytest.fixture(scope="module")
def model() -> CropScorer:
    torch.manual_seed(0)
    return CropScorer().eval()


def test_parameter_counts():
    # the default heads are slimmer than the paper's (for speed, same validation figures)
    assert count_parameters(CropScorer()) == 3_408_257
    assert count_parameters(CropScorer(ScorerConfig(spatial=False))) == 2_934_665
    # the paper's sizes (7.10M full, 5.91M basic) with its 32 fused channels and 32x32 grid
    paper = ScorerConfig(reduced_dim=32, grid=32)
    assert count_parameters(CropScorer(paper)) == 7_191_449
    assert count_parameters(CropScorer(replace(paper, spatial=False))) == 5_931_425


@pytest.mark.parametrize("photo", [(1600, 1067), (1065, 1600), (512, 512), (2000, 500)])
def test_each_box_is_scored_on_its_own_photo(model, photo):
    w, h = input_size(*photo)
    assert w % 32 == 0 and h % 32 == 0 and min(w, h) <= 256
    images = torch.randn(2, 3, h, w)
    rois = torch.from_numpy(
        np.concatenate(
            [
                boxes_to_rois([[0, 0, photo[0], photo[1]], [10, 10, 400, 300]], photo, (w, h), 0),
                boxes_to_rois([[5, 5, 300, 200]], photo, (w, h), 1),
            ]
        )
    )
    assert rois[:, 0].tolist() == [0, 0, 1]
    with torch.inference_mode():
        scores = model(images, rois)
        # each box is scored on its own photo: as with that photo alone in the batch (index 0)
        alone = [
            model(images[int(r[0]) : int(r[0]) + 1], torch.cat([torch.zeros(1), r[1:]])[None])
            for r in rois
        ]
    assert scores.shape == (3,)
    torch.testing.assert_close(scores, torch.cat(alone), rtol=0, atol=1e-5)
    assert len(set(scores.tolist())) == 3  # three boxes, three different scores


def test_rod_matches_roi_align_of_the_masked_map():
    torch.manual_seed(1)
    feats = torch.randn(2, 4, 16, 24)
    rois = torch.tensor([[0, 10.0, 20, 300, 200], [1, 33.3, 50.1, 200.7, 255.9]])
    keep = 1 - box_coverage(rois[:, 1:] / 16, 16, 24)
    whole = torch.cat(
        [torch.arange(2.0)[:, None], torch.tensor([[0.0, 0, 24, 16]]).expand(2, 4)], 1
    )
    expected = tv_roi_align(feats[rois[:, 0].long()] * keep, whole, 9, 1.0, 2, True)
    torch.testing.assert_close(rod_align(feats, rois, 9, 1 / 16), expected, atol=1e-5, rtol=0)


def test_roi_align_equals_torchvisions():
    torch.manual_seed(6)
    feats = torch.randn(2, 3, 12, 20)
    rois = torch.tensor(
        [
            [0, 0.0, 0, 320, 192],  # the whole map
            [1, 33.3, 50.1, 200.7, 155.9],
            [0, 300.5, 170.2, 319.9, 191.8],  # a sliver at the far corner
            [1, -40.0, -30.0, 20.0, 10.0],  # partly outside: samples clamped or dropped
            [0, 330.0, 5.0, 360.0, 40.0],  # wholly past the right edge
            [1, 7.0, 9.0, 7.5, 9.5],
        ]
    )  # smaller than a cell
    expected = tv_roi_align(feats, rois, 7, 1 / 16, 2, True)
    torch.testing.assert_close(roi_align(feats, rois, 7, 1 / 16), expected, atol=1e-6, rtol=1e-5)
    grad = torch.randn_like(expected)
    ours, theirs = feats.clone().requires_grad_(), feats.clone().requires_grad_()
    (roi_align(ours, rois, 7, 1 / 16) * grad).sum().backward()
    (tv_roi_align(theirs, rois, 7, 1 / 16, 2, True) * grad).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-5, rtol=1e-5)


def test_backbone_equals_torchvisions_mobilenet_v2(tmp_path):
    from torchvision.models import mobilenet_v2

    from sacrop_cli.model.backbones import MobileNetV2Backbone

    torch.manual_seed(7)
    reference = mobilenet_v2().eval()
    torch.save(reference.state_dict(), tmp_path / "mobilenet_v2.pth")
    ours = MobileNetV2Backbone().eval()
    ours.load_imagenet(
        tmp_path / "mobilenet_v2.pth"
    )  # the same key mapping as ImageNet weights get
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        low, mid, high = ours(x)
        f = reference.features
        torch.testing.assert_close(low, f[:7](x))
        torch.testing.assert_close(mid, f[7:14](f[:7](x)))
        torch.testing.assert_close(high, f[:18](x))


def test_rod_ignores_the_inside_of_the_crop_and_roi_does_not():
    torch.manual_seed(2)
    feats = torch.randn(1, 4, 16, 16)
    rois = torch.tensor([[0, 64.0, 64, 192, 192]])  # cells 4..11 at stride 16
    changed = feats.clone()
    changed[:, :, 4:12, 4:12] += 10  # only cells fully inside the crop
    torch.testing.assert_close(
        rod_align(feats, rois, 9, 1 / 16), rod_align(changed, rois, 9, 1 / 16)
    )
    assert not torch.allclose(
        roi_align(feats, rois, 9, 1 / 16), roi_align(changed, rois, 9, 1 / 16)
    )


def test_spatial_mask_moves_with_the_box():
    mask = box_coverage(torch.tensor([[2.0, 1.0, 5.0, 3.0]]), 8, 8)[0, 0]
    expected = torch.zeros(8, 8)
    expected[1:3, 2:5] = 1
    assert torch.equal(mask, expected)
    moved = box_coverage(torch.tensor([[3.0, 2.0, 6.0, 4.0]]), 8, 8)[0, 0]
    assert torch.equal(moved, torch.roll(expected, shifts=(1, 1), dims=(0, 1)))
    half = box_coverage(torch.tensor([[2.5, 1.0, 5.0, 3.0]]), 8, 8)[0, 0]
    assert half[1, 2] == 0.5 and half[1, 3] == 1


def test_spatial_feature_depends_on_box_position(model):
    torch.manual_seed(3)
    feats = model.features(torch.randn(1, 3, 256, 256))
    rois = torch.tensor([[0, 0.0, 0, 160, 160], [0, 96, 96, 256, 256]])
    with torch.inference_mode():
        sp = model.spatial(feats.maps, rois, feats.input_size)
    assert not torch.allclose(sp[0], sp[1])


def test_gradients_reach_every_parameter():
    torch.manual_seed(4)
    model = CropScorer(ScorerConfig(dropout=0.0)).train()
    images = torch.randn(1, 3, 256, 320)
    rois = torch.tensor([[0, 0.0, 0, 256, 200], [0, 30, 20, 300, 250], [0, 10, 40, 200, 240]])
    emb = model.embed_crops(model.features(images), rois)
    torch.manual_seed(5)  # the classifier sees distinct embeddings, as after training
    pairs = emb[:2] + torch.randn(2, emb.shape[1]), emb[1:] + torch.randn(2, emb.shape[1])
    loss = model.score_embeddings(emb).sum() + model.compare(*pairs).sum()
    loss.backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert missing == []


def test_pair_classifier_is_antisymmetric(model):
    emb = torch.randn(5, model.config.embed_dim)
    with torch.inference_mode():
        torch.testing.assert_close(
            model.compare(emb[:3], emb[2:]), -model.compare(emb[2:], emb[:3])
        )


def test_eval_mode_is_deterministic(model):
    images = torch.randn(1, 3, 256, 384)
    rois = torch.tensor([[0, 0.0, 0, 384, 256], [0, 20, 10, 300, 250]])
    with torch.inference_mode():
        assert torch.equal(model(images, rois), model(images, rois))


def test_backbone_batchnorm_stays_frozen_in_train_mode():
    model = CropScorer().train()
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.regress.training


def _straightforward_scores(
    model: CropScorer, images: torch.Tensor, rois: torch.Tensor
) -> torch.Tensor:
    """Scores computed the plain way: BatchNorm layers on their own and the content head as the
    convolution it is declared as (``embed_crops`` uses a matrix product instead)."""
    feats = model.features(images)
    s = model.config.align_size
    roi = tv_roi_align(feats.fused, rois, s, 1 / 16, 2, True)
    rod = rod_align(feats.fused, rois, s, 1 / 16)
    content = torch.relu(model.content(torch.cat([roi, rod], 1))).flatten(1)
    spatial = model.spatial(feats.maps, rois, feats.input_size)
    return model.regress(model.embed(torch.cat([content, spatial], 1))).squeeze(1)


def test_optimized_for_inference_gives_the_same_scores():
    import copy

    from sacrop_cli.candidates import gaic_grid

    torch.manual_seed(6)
    plain = CropScorer().eval()
    for m in plain.modules():  # BatchNorm statistics like a trained network's, not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    with torch.no_grad():
        plain.regress.weight.mul_(100)  # scores spread over about one unit, as trained ones do
    fast = copy.deepcopy(plain).optimize_for_inference()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    photo = (1024, 683)
    size = input_size(*photo)
    boxes = gaic_grid(*photo)
    rois = torch.from_numpy(
        np.concatenate([boxes_to_rois(boxes, photo, size, b) for b in range(2)])
    )
    images = torch.randn(2, 3, size[1], size[0])
    with torch.inference_mode():
        expected = _straightforward_scores(plain, images, rois)
        got = fast(images, rois)
    assert expected.std() > 0.3
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("size", [(256, 256), (384, 256), (256, 768), (32, 64)])
def test_fixed_scale_fusion_equals_resizing_to_the_middle_map(size):
    """The ONNX-friendly 2x pooling and 2x upsampling of ``image_features`` equal the adaptive
    pooling and resizing to the stride-16 map's size they replace, for inputs of multiples of 32."""
    torch.manual_seed(7)
    w, h = size
    low, mid, high = (torch.randn(1, 5, h // s, w // s) for s in (8, 16, 32))
    target = mid.shape[-2:]
    torch.testing.assert_close(
        F.avg_pool2d(low, 2), F.adaptive_avg_pool2d(low, target), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        F.interpolate(high, scale_factor=2.0, mode="bilinear", align_corners=False),
        F.interpolate(high, size=target, mode="bilinear", align_corners=False),
        atol=1e-6,
        rtol=0,
    )


@pytest.mark.parametrize("batch", [1, 3])
def test_per_image_products_equal_the_loop_they_replace(batch):
    """``_per_image`` (two batched products, exportable) against the image-by-image einsum of
    its first version, for one image (broadcast) and a batch (gathered)."""
    torch.manual_seed(8)
    features = torch.randn(batch, 4, 6, 10)
    index = torch.tensor([0, batch - 1, 0, batch // 2, batch - 1])
    wy, wx = torch.rand(5, 9, 6), torch.rand(5, 9, 10)
    expected = torch.empty(5, 4, 9, 9)
    for b in index.unique().tolist():
        sel = (index == b).nonzero().squeeze(1)
        expected[sel] = torch.einsum("kih,chw,kjw->kcij", wy[sel], features[b], wx[sel])
    torch.testing.assert_close(_per_image(wy, features, wx, index), expected, atol=1e-5, rtol=1e-5)
