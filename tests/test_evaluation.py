"""Tests of course_utils.evaluation on hand-made masks and maps."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zoo import assert_same_state, state

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


# ---------------------------------------------------------------------------------------
# Class discrimination on two-object images
# ---------------------------------------------------------------------------------------


def two_objects(n):
    """(n, 2, 9, 9) masks: object 0 at the top left, object 1 at the bottom right."""
    return torch.stack([square(9, 0, 0, 3), square(9, 5, 5, 3)])[None].repeat(n, 1, 1, 1)


def test_class_discrimination_counts_maps_on_their_own_object():
    masks = two_objects(2)
    maps = torch.zeros(2, 2, 9, 9)
    maps[0, 0, 1, 1] = 1  # object 0's map on object 0: a hit
    maps[0, 1, 2, 2] = 1  # object 1's map on object 0: the other object, a miss
    maps[1, 0, 4, 0] = 1  # on the background: a miss
    maps[1, 1, 6, 7] = 1  # object 1's map on object 1: a hit
    assert evaluation.class_discrimination(maps, masks) == pytest.approx(2 / 4)
    # The same maps scored against the swapped masks: the share on the other object.
    assert evaluation.class_discrimination(maps, masks.flip(1)) == pytest.approx(1 / 4)


def test_class_discrimination_takes_the_first_of_tied_maxima():
    masks = two_objects(1)
    maps = torch.zeros(1, 2, 9, 9)
    maps[0, 0, 1, 1] = maps[0, 0, 4, 8] = 1  # first on object 0, then the background
    maps[0, 1, 5, 5] = maps[0, 1, 8, 0] = 1  # first on object 1, then the background
    assert evaluation.class_discrimination(maps, masks) == 1.0
    maps[0, 0, 0, 8] = 1  # now the first maximum of map 0 (row 0) is on the background
    assert evaluation.class_discrimination(maps, masks) == 0.5


def test_class_discrimination_wants_two_maps_per_image():
    masks = two_objects(2)
    with pytest.raises(ValueError, match=r"maps must have shape \(N, 2, H, W\)"):
        evaluation.class_discrimination(torch.zeros(2, 9, 9), masks)
    with pytest.raises(ValueError, match=r"maps must have shape \(N, 2, H, W\)"):
        evaluation.class_discrimination(torch.zeros(2, 3, 9, 9), masks)
    with pytest.raises(ValueError, match="masks must have the shape of maps"):
        evaluation.class_discrimination(torch.zeros(2, 2, 9, 9), masks[:, :, :8])


# ---------------------------------------------------------------------------------------
# Deletion and insertion curves
# ---------------------------------------------------------------------------------------


def weighted_sum_model(weights):
    """Two classes: logit 0 = sum(weights * x), logit 1 = 0; so p(class 0) = sigmoid(w . x)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(weights.numel(), 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].weight[0] = weights.flatten()
    return model.eval()


def test_curves_step_through_the_ranking_by_hand():
    weights = torch.tensor([[[1.0, -2.0], [3.0, 0.5]]])  # one channel, 2 x 2 pixels
    model = weighted_sum_model(weights)
    x = torch.tensor([[[[1.0, 2.0], [0.5, 1.5]]]])
    substrate = torch.full_like(x, 0.25)
    maps = torch.tensor([[[0.1, 0.7], [0.7, -1.0]]])  # a tie: pixel 1 ranks before pixel 2
    order = [1, 2, 0, 3]
    deletion = evaluation.deletion_curve(model, x, 0, maps, steps=4, substrate=substrate)
    insertion = evaluation.insertion_curve(model, x, 0, maps, steps=4, substrate=substrate)
    w, image, filler = weights.flatten(), x.flatten(), substrate.flatten()
    for k in range(5):
        removed = torch.zeros(4, dtype=torch.bool)
        removed[order[:k]] = True
        deleted = torch.where(removed, filler, image)
        inserted = torch.where(removed, image, filler)
        assert deletion[0, k].item() == pytest.approx(torch.sigmoid(w @ deleted).item(), abs=1e-6)
        assert insertion[0, k].item() == pytest.approx(torch.sigmoid(w @ inserted).item(), abs=1e-6)
    assert deletion.shape == insertion.shape == (1, 5)


def test_equal_values_are_ranked_in_the_order_of_the_pixels():
    torch.manual_seed(3)
    weights = torch.randn(2, 12, 12)
    model = weighted_sum_model(weights)
    x = torch.rand(2, 2, 12, 12)
    flat = torch.zeros(2, 12, 12)  # every pixel ties with every other
    by_position = -torch.arange(144.0).view(1, 12, 12).repeat(2, 1, 1)  # first pixel first
    for curve in (evaluation.deletion_curve, evaluation.insertion_curve):
        torch.testing.assert_close(
            curve(model, x, 0, flat, steps=144), curve(model, x, 0, by_position, steps=144)
        )


def gaussian_blur_by_hand(x, sigma):
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius,) * 4, mode="reflect")
    channels = x.shape[1]
    rows = F.conv2d(padded, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)


def test_curves_start_and_end_at_the_image_and_the_substrate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    x = torch.rand(3, 3, 16, 16)
    model(x)  # sizes the lazy layer
    model.eval()
    target = torch.tensor([0, 4, 2])
    maps = torch.rand(3, 16, 16)
    substrate = gaussian_blur_by_hand(x, sigma=16 / 8)  # the default substrate
    with torch.no_grad():
        p_image = model(x).softmax(dim=1)[torch.arange(3), target]
        p_substrate = model(substrate).softmax(dim=1)[torch.arange(3), target]
    assert (p_image - p_substrate).abs().min() > 1e-3, "the ends must differ to be told apart"
    deletion = evaluation.deletion_curve(model, x, target, maps, steps=5)
    insertion = evaluation.insertion_curve(model, x, target, maps, steps=5)
    assert deletion.shape == insertion.shape == (3, 6)
    torch.testing.assert_close(deletion[:, 0], p_image)
    torch.testing.assert_close(deletion[:, -1], p_substrate)
    torch.testing.assert_close(insertion[:, 0], p_substrate)
    torch.testing.assert_close(insertion[:, -1], p_image)
    # target=None: the predicted class.
    predicted = model(x).argmax(dim=1)
    torch.testing.assert_close(
        evaluation.deletion_curve(model, x, None, maps, steps=5),
        evaluation.deletion_curve(model, x, predicted, maps, steps=5),
    )


def test_a_map_of_the_important_pixels_deletes_faster_than_its_reverse():
    torch.manual_seed(1)
    weights = torch.rand(3, 8, 8) * 2
    model = weighted_sum_model(weights)
    x = torch.rand(4, 3, 8, 8)
    contribution = (weights * x).sum(dim=1)  # what each pixel adds to the class's logit
    substrate = torch.zeros_like(x)
    aucs = {}
    for name, maps in {"faithful": contribution, "reverse": -contribution}.items():
        for curve in ("deletion", "insertion"):
            function = getattr(evaluation, f"{curve}_curve")
            curves = function(model, x, 0, maps, steps=8, substrate=substrate)
            aucs[name, curve] = evaluation.area_under_curve(curves)
    assert (aucs["faithful", "deletion"] < aucs["reverse", "deletion"]).all(), aucs
    assert (aucs["faithful", "insertion"] > aucs["reverse", "insertion"]).all(), aucs


def test_curves_check_their_arguments_and_leave_the_model_as_found():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 6 * 6, 3)).train()
    model[2].weight.grad = torch.ones_like(model[2].weight)
    x, maps = torch.rand(2, 3, 6, 6), torch.rand(2, 6, 6)
    before = state(model)
    first = evaluation.deletion_curve(model, x, 1, maps, steps=3)
    assert torch.equal(first, evaluation.deletion_curve(model, x, 1, maps, steps=3))  # no dropout
    evaluation.insertion_curve(model, x, 1, maps, steps=3)
    assert_same_state(before, state(model))
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\)"):
        evaluation.deletion_curve(model, x, 1, maps[:, None].repeat(1, 3, 1, 1))
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\)"):
        evaluation.insertion_curve(model, x, 1, maps[:1])
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        evaluation.deletion_curve(model, x, 1, maps, steps=0)
    with pytest.raises(ValueError, match="substrate must be None or a tensor shaped like x"):
        evaluation.insertion_curve(model, x, 1, maps, substrate=x[:1])


def test_area_under_curve_by_the_trapezoid_rule():
    curves = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(
        evaluation.area_under_curve(curves), torch.tensor([1.0, 0.5, 0.25, 0.5])
    )
    # Five points: intervals of 1/4.
    curve = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(evaluation.area_under_curve(curve), torch.tensor([0.125]))
    with pytest.raises(ValueError, match=r"\(N, S\) with S >= 2"):
        evaluation.area_under_curve(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"\(N, S\) with S >= 2"):
        evaluation.area_under_curve(torch.ones(3, 1))
