"""Score the course's explanation methods on the shapes test set, as lesson 06 does.

    python tools/pointing_game.py [--images 200] [--tolerance 2] [--canvas 96]

For each method it prints the pointing-game accuracy (is the map's maximum on the object?),
with and without a tolerance, the IoU of the mask and of the box it segments, and the time
it took. Two maps that know nothing about the model give the baselines: the image centre,
and uniform noise. The shapes test images have their object near the centre, so the centre
baseline is hard to beat there; a second table places the same kind of objects anywhere on a
larger canvas, where only a map that finds the object can score.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_utils import env, evaluation, gradcam, guided, models, saliency, shapes

# The settings of lesson 06, so that its first table is the lesson's table.
SMOOTHGRAD = {"n_samples": 10, "noise_level": 0.15}
MASK_FRACTION = 0.25  # share of pixels kept when a map is turned into a mask


def centre_map(x: torch.Tensor) -> torch.Tensor:
    """Closer to the image centre (pixel (H // 2, W // 2)) = higher: where objects usually are."""
    h, w = x.shape[2:]
    rows, cols = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    return -(rows**2 + cols**2).float().expand(len(x), h, w)


METHODS = {
    "image centre (baseline)": lambda model, x, y: centre_map(x),
    "random map (baseline)": lambda model, x, y: torch.rand(
        len(x), *x.shape[2:], generator=torch.Generator().manual_seed(0)
    ),
    "saliency": saliency.saliency_map,
    "SmoothGrad": lambda model, x, y: saliency.smoothgrad(model, x, y, **SMOOTHGRAD),
    "guided backprop": lambda model, x, y: guided.guided_backprop(model, x, y).abs().amax(dim=1),
    "Grad-CAM relu4": lambda model, x, y: gradcam.grad_cam(model, x, y, layer="relu4"),
    "Grad-CAM relu3": lambda model, x, y: gradcam.grad_cam(model, x, y, layer="relu3"),
}


def score(data: shapes.ShapesData, tolerance: int) -> list[dict]:
    model = models.load_model("shapes")
    x, y, masks = data.images, data.labels, data.masks
    fraction = MASK_FRACTION * (64 / x.shape[-1]) ** 2  # the same area as on a 64 px image
    true_boxes = evaluation.mask_to_box(masks)
    rows = []
    for name, method in METHODS.items():
        start = time.perf_counter()
        maps = method(model, x, y)
        seconds = time.perf_counter() - start
        found = evaluation.saliency_to_mask(maps, fraction)
        rows.append(
            {
                "method": name,
                "pointing": evaluation.pointing_game(maps, masks),
                "pointing_tol": evaluation.pointing_game(maps, masks, tolerance=tolerance),
                "mask_iou": evaluation.iou(found, masks).mean().item(),
                "box_iou": evaluation.box_iou(evaluation.mask_to_box(found), true_boxes)
                .mean()
                .item(),
                "seconds": seconds,
            }
        )
    return rows


def print_table(title: str, rows: list[dict], tolerance: int) -> None:
    print(title)
    header = (
        f"{'method':<24} {'pointing':>9} {f'±{tolerance} px':>9} "
        f"{'mask IoU':>9} {'box IoU':>8} {'time':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<24} {r['pointing']:>9.2f} {r['pointing_tol']:>9.2f} "
            f"{r['mask_iou']:>9.2f} {r['box_iou']:>8.2f} {r['seconds']:>6.2f}s"
        )
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="shapes test images (max 1200)")
    parser.add_argument("--tolerance", type=int, default=2, help="pixels, for the second column")
    parser.add_argument("--canvas", type=int, default=96, help="side of the second table's images")
    args = parser.parse_args(argv)
    env.set_threads()
    print(
        f"Explanations of the shapes model for the true class, {args.images} images per table.\n"
        f"SmoothGrad: {SMOOTHGRAD['n_samples']} samples, noise {SMOOTHGRAD['noise_level']}. "
        f"Masks keep the top {MASK_FRACTION:.0%} of a 64 px image's area, then the largest "
        "region.\n"
    )
    test = shapes.load_shapes("test")
    test = shapes.ShapesData(*(t[: args.images] for t in test))
    print_table(
        "Shapes test set (objects near the centre)", score(test, args.tolerance), args.tolerance
    )
    anywhere = shapes.make_shapes(args.images, seed=3000, canvas=args.canvas)
    accuracy = (
        (models.predict(models.load_model("shapes"), anywhere.images).argmax(1) == anywhere.labels)
        .float()
        .mean()
    )
    print_table(
        f"Objects anywhere on a {args.canvas} px canvas (the model classifies "
        f"{accuracy:.0%} of these correctly)",
        score(anywhere, args.tolerance),
        args.tolerance,
    )


if __name__ == "__main__":
    main()
