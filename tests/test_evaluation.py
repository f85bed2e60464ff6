"""Tests of course_utils.evaluation on hand-made masks and maps."""

import pytest
import torch
from torch import nn

from course_utils import evaluation


def square(size, top, left, side):
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_iou_per_image_with_the_empty_case():
    a = torch.stack([square(8, 0, 0, 4), square(8, 0, 0, 4), torch.zeros(8, 8, dtype=torch.bool)])
    b = torch.stack([square(8, 0, 0, 4), square(8, 2, 2, 4), torch.zeros(8, 8, dtype=torch.bool)])
    torch.testing.assert_close(evaluation.iou(a, b), torch.tensor([1.0, 4 / 28, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, H, W\).*maps\[None\]"):
        evaluation.iou(a[0], b[0])


def test_saliency_to_mask_keeps_the_largest_region_of_the_top_pixels():
    saliency = torch.zeros(1, 10, 10)
    saliency[0, 1:4, 1:4] = 5.0  # 9 strong pixels, one region
    saliency[0, 7, 7] = 9.0  # the single strongest pixel, alone
    mask = evaluation.saliency_to_mask(saliency, fraction=0.1)
    assert mask.dtype == torch.bool
    assert torch.equal(mask[0], square(10, 1, 1, 3))
    with pytest.raises(ValueError, match="fraction"):
        evaluation.saliency_to_mask(saliency, fraction=0)


def test_boxes_and_box_iou():
    masks = torch.stack([square(10, 2, 3, 4), torch.zeros(10, 10, dtype=torch.bool)])
    boxes = evaluation.mask_to_box(masks)
    assert boxes.tolist() == [[2, 3, 6, 7], [0, 0, 0, 0]]
    ious = evaluation.box_iou(
        torch.tensor([[0, 0, 4, 4], [0, 0, 2, 2]]), torch.tensor([[2, 2, 6, 6], [5, 5, 6, 6]])
    )
    torch.testing.assert_close(ious, torch.tensor([4 / 28, 0.0]))


def test_pointing_game_with_and_without_tolerance():
    masks = torch.stack([square(9, 0, 0, 3)] * 3)
    maps = torch.zeros(3, 9, 9)
    maps[0, 1, 1] = 1  # inside
    maps[1, 4, 4] = 1  # two pixels off the mask, diagonally
    maps[2, 8, 0] = 1  # far below
    assert evaluation.pointing_game(maps, masks) == pytest.approx(1 / 3)
    assert evaluation.pointing_game(maps, masks, tolerance=1) == pytest.approx(1 / 3)
    assert evaluation.pointing_game(maps, masks, tolerance=2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        evaluation.pointing_game(maps, masks[:, :8])


def test_spearman_ranks_and_constant_maps():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    b = torch.tensor([[10.0, 20.0, 30.0, 1000.0], [0.0, 0.0, 0.0, 0.0]])
    assert evaluation.spearman(a[:1], b[:1]) == pytest.approx(1.0)
    assert evaluation.spearman(a[:1], -b[:1]) == pytest.approx(-1.0)
    assert evaluation.spearman(a, b) == pytest.approx(0.5)  # the constant map counts as 0


def test_cascading_randomization_leaves_the_model_alone_and_goes_top_down():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    before = [p.clone() for p in model.parameters()]
    x = torch.rand(4, 6)

    def weights_method(m, x, target):  # an "explanation" that is the first layer's weights
        return m[0].weight.detach().flatten()[None].repeat(len(x), 1)

    results = evaluation.cascading_randomization(model, weights_method, x, 0)
    assert [name for name, _ in results] == ["2", "0"]
    assert results[0][1] == pytest.approx(1.0)  # the first layer is still intact
    assert abs(results[1][1]) < 0.9
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    again = evaluation.cascading_randomization(model, weights_method, x, 0)
    assert again == results
