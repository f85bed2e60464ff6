"""Tests of course_utils.viz (Agg backend, nothing is displayed)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.viz import (  # noqa: E402
    diverging_imshow,
    hinton,
    overlay_heatmap,
    show_filters,
    show_images,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_show_images_grid_titles_and_gray_look():
    images = torch.rand(5, 1, 8, 8)
    fig = show_images(images, titles=list("abcde"), ncols=3)
    assert isinstance(fig, plt.Figure)
    assert len(fig.axes) == 6  # 2 rows x 3 columns
    shown = visible_axes(fig)
    assert len(shown) == 5
    assert [ax.get_title() for ax in shown] == list("abcde")
    im = shown[0].images[0]
    assert im.get_cmap().name == "gray" and im.get_clim() == (0, 1)
    np.testing.assert_allclose(im.get_array(), images[0, 0].numpy(), atol=1e-7)
    assert not shown[0].axison  # no ticks


def test_show_images_accepts_nhw_tensors_and_lists_of_arrays():
    assert len(visible_axes(show_images(torch.rand(4, 8, 8)))) == 4
    rgb = [np.random.rand(6, 7, 3), np.random.rand(6, 7, 3)]
    fig = show_images(rgb, suptitle="two")
    assert fig.axes[0].images[0].get_array().shape == (6, 7, 3)
    assert fig.get_suptitle() == "two"
    chw = [torch.rand(3, 6, 7), torch.rand(6, 7)]
    fig = show_images(chw)
    assert fig.axes[0].images[0].get_array().shape == (6, 7, 3)  # CHW shown as HWC


def test_show_images_clips_tiny_overshoot_and_rejects_bad_range():
    images = torch.full((2, 1, 4, 4), 0.5)
    images[0, 0, 0, 0] = -0.005
    fig = show_images(images)
    assert fig.axes[0].images[0].get_array().min() >= 0
    with pytest.raises(ValueError, match="imagenet_denormalize"):
        show_images(torch.randn(2, 3, 8, 8) * 3)
    with pytest.raises(ValueError, match="NaN"):
        show_images(torch.full((1, 1, 4, 4), float("nan")))


def test_show_images_rejects_bad_shapes():
    with pytest.raises(ValueError, match="C = 1 or 3"):
        show_images(torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError, match="batch"):
        show_images(torch.rand(8, 8))
    with pytest.raises(ValueError, match="titles"):
        show_images(torch.rand(2, 8, 8), titles=["only one"])
    with pytest.raises(ValueError, match="empty"):
        show_images([])


def test_show_images_masks_draw_contours():
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 2:6, 2:6] = True  # image 1 gets an empty mask: nothing to outline
    fig = show_images(torch.rand(2, 3, 8, 8), masks=masks)
    assert len(fig.axes[0].collections) > 0
    assert len(fig.axes[1].collections) == 0
    plain = show_images(torch.rand(2, 3, 8, 8))
    assert len(plain.axes[0].collections) == 0
    with pytest.raises(ValueError, match="mask 0"):
        show_images(torch.rand(2, 3, 8, 8), masks=torch.ones(2, 4, 4, dtype=torch.bool))


def test_overlay_heatmap_upsamples_and_normalizes():
    image = torch.rand(3, 16, 16)
    heat = torch.arange(4.0).repeat(4, 1) + 10  # 4x4, grows from left to right
    ax = overlay_heatmap(image, heat, title="cam", colorbar=True)
    assert isinstance(ax, plt.Axes)
    assert ax.get_title() == "cam"
    assert len(ax.figure.axes) == 2  # image axes + colorbar
    shown = np.asarray(ax.images[-1].get_array())
    assert shown.shape == (16, 16)
    assert shown.min() == pytest.approx(0) and shown.max() == pytest.approx(1)
    assert (np.diff(shown, axis=1) >= -1e-6).all()  # still grows left to right
    np.testing.assert_allclose(shown, shown[:1].repeat(16, axis=0))  # rows identical


def test_overlay_heatmap_same_size_and_constant_heatmap():
    image = np.random.rand(5, 5)  # grayscale HW array
    heat = np.random.rand(5, 5) * 4 - 2
    _, ax = plt.subplots()
    assert overlay_heatmap(image, heat, ax=ax) is ax
    expected = (heat - heat.min()) / (heat.max() - heat.min())
    np.testing.assert_allclose(ax.images[-1].get_array(), expected, atol=1e-6)

    with np.errstate(all="raise"):
        ax = overlay_heatmap(image, np.full((5, 5), 3.0))
    shown = ax.images[-1].get_array()
    assert not np.ma.is_masked(shown)  # imshow masks NaN, which would hide a 0 / 0
    np.testing.assert_array_equal(np.ma.getdata(shown), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="heatmap"):
        overlay_heatmap(image, np.zeros((2, 5, 5)))


def test_show_filters_scales_each_filter():
    w = torch.randn(6, 1, 3, 3)
    w[2] = 7.0  # constant filter
    fig = show_filters(w, ncols=4)
    assert isinstance(fig, plt.Figure)
    shown = visible_axes(fig)
    assert len(shown) == 6 and len(fig.axes) == 8
    np.testing.assert_allclose(shown[2].images[0].get_array(), np.full((3, 3), 0.5))
    first = np.asarray(shown[0].images[0].get_array())
    assert first.min() == pytest.approx(0) and first.max() == pytest.approx(1)
    w0 = w[0, 0].numpy()
    np.testing.assert_allclose(first, (w0 - w0.min()) / (w0.max() - w0.min()), atol=1e-6)


def test_show_filters_rgb_and_many_channels():
    fig = show_filters(np.random.randn(4, 3, 5, 5), title="rgb")
    assert fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    fig = show_filters(torch.randn(4, 16, 3, 3), title="conv2")
    assert fig.axes[0].images[0].get_array().shape == (3, 3)
    assert "mean" in fig.get_suptitle() and "conv2" in fig.get_suptitle()
    with pytest.raises(ValueError, match="kh, kw"):
        show_filters(torch.randn(4, 3, 3))


def test_diverging_imshow_is_symmetric_around_zero():
    fig, ax = plt.subplots()
    a = torch.tensor([[-1.0, 0.5], [3.0, 0.0]])
    im = diverging_imshow(ax, a, title="weights")
    assert im.get_clim() == (-3.0, 3.0)
    assert im.get_cmap().name == "RdBu_r"
    assert ax.get_title() == "weights"
    assert len(fig.axes) == 2  # colorbar added
    _, ax = plt.subplots()
    assert diverging_imshow(ax, np.zeros((2, 2))).get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="H, W"):
        diverging_imshow(ax, np.zeros((2, 2, 2)))


def squares(ax):
    """(row, column, side, RGBA colour) of every square of a Hinton diagram."""
    result = []
    for patch in ax.patches:
        x, y = patch.get_xy()
        side = patch.get_width()
        assert patch.get_height() == pytest.approx(side)  # squares, not rectangles
        result.append((round(y + side / 2), round(x + side / 2), side, patch.get_facecolor()))
    return sorted(result)


def test_hinton_area_is_proportional_to_magnitude():
    matrix = torch.tensor([[4.0, -1.0, 0.0], [-4.0, 0.25, 2.0]])
    _, ax = plt.subplots()
    assert hinton(ax, matrix, title="w") is ax
    assert ax.get_title() == "w"
    drawn = squares(ax)
    assert [(r, c) for r, c, _, _ in drawn] == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]  # no 0
    sides = {(r, c): side for r, c, side, _ in drawn}
    largest = sides[(0, 0)]
    assert 0.5 < largest < 1  # the biggest square nearly fills its cell, without touching
    for (r, c), side in sides.items():
        area_ratio = (side / largest) ** 2
        assert area_ratio == pytest.approx(abs(float(matrix[r, c])) / 4.0)
    assert sides[(1, 0)] == pytest.approx(largest)  # -4 is as big as 4


def test_hinton_colours_follow_the_sign_and_rows_go_down():
    matrix = np.array([[1.0, -2.0], [3.0, -0.5]])
    _, ax = plt.subplots()
    hinton(ax, matrix)
    colours = {(r, c): colour for r, c, _, colour in squares(ax)}
    red, blue = colours[(0, 0)], colours[(0, 1)]
    assert red[0] > red[2] and blue[2] > blue[0]  # red positive, blue negative
    assert colours[(1, 0)] == red and colours[(1, 1)] == blue
    bottom, top = ax.get_ylim()
    assert top < bottom  # row 0 is drawn at the top
    assert ax.get_xlim() == (-0.5, 1.5) and sorted(ax.get_ylim()) == [-0.5, 1.5]


def test_hinton_all_zero_matrix_and_bad_input():
    _, ax = plt.subplots()
    with np.errstate(all="raise"):  # no 0 / 0
        hinton(ax, np.zeros((2, 3)))
    assert len(ax.patches) == 0
    with pytest.raises(ValueError, match="R, C"):
        hinton(ax, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="NaN"):
        hinton(ax, torch.tensor([[1.0, float("nan")]]))
