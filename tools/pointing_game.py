"""Score the course's explanation methods on the "anywhere" shapes world (lessons 06 and 07).

    python tools/pointing_game.py [--images 200] [--pairs 100] [--faithfulness-images 100]

Every map explains the true class, with the ``shapes_anywhere`` model, on held-out images
whose objects have any size and lie anywhere on a 96 px canvas. Three tables:

(a) localization on one-object images: the pointing game (is the map's maximum on the
    object?), with and without a tolerance, the IoU of the mask and of the box segmented
    from the map, and the time each method took;
(b) class discrimination on two-object images: for each object, the map of its class; the
    share of maps whose maximum is on their own object, and on the other one;
(c) faithfulness to the model, no masks involved: the area under the deletion curve (the
    true class's probability as the pixels the map ranks first are blurred away: lower is
    better) and under the insertion curve (as they are put back into a blurred image:
    higher is better).

Two maps that know nothing about the model give the baselines: the image centre and uniform
noise (a random ranking of the pixels).
"""

from __future__ import annotations

import argparse
import time

import torch

from course_utils import env, evaluation, gradcam, guided, models, occlusion, saliency, shapes

SMOOTHGRAD = {"n_samples": 10, "noise_level": 0.15}  # the settings of lesson 06
# Integrated gradients: with 16 steps the attributions of the shapes model add up to the
# change of its score within about 3% (saliency.completeness_gap); more cost time, not rank.
IG_STEPS = 16
# Objects are about 17 to 55 px wide: a 24 px window hides much of a small one or part of a
# large one, and a stride of 16 px keeps the forward passes to 36 per image (6 x 6 windows).
OCCLUSION = {"window": 24, "stride": 16}
CURVE_STEPS = 10  # the deletion and insertion curves: 11 points, every 10% of the pixels
BATCH = 32  # images per pass: on a CPU, larger batches of 96 px images ran slower


def centre_map(x: torch.Tensor) -> torch.Tensor:
    """Closer to the image centre (pixel (H // 2, W // 2)) = higher."""
    h, w = x.shape[2:]
    rows, cols = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    return -(rows**2 + cols**2).float().expand(len(x), h, w)


def random_map(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(len(x), *x.shape[2:], generator=torch.Generator().manual_seed(0))


def largest(attributions: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W): the largest magnitude over the channels, as saliency does."""
    return attributions.abs().amax(dim=1)


# name -> method(model, x, y) returning (N, H, W) maps, higher = more important. Integrated
# gradients and occlusion keep their sign (summed over channels for integrated gradients,
# which then adds up to the change of the score): a pixel that speaks *against* the class
# must not rank first in a deletion curve.
METHODS = {
    "image centre (baseline)": lambda model, x, y: centre_map(x),
    "random map (baseline)": lambda model, x, y: random_map(x),
    "saliency": saliency.saliency_map,
    "SmoothGrad": lambda model, x, y: saliency.smoothgrad(
        model, x, y, **SMOOTHGRAD, batch_size=BATCH
    ),
    "guided backprop": lambda model, x, y: largest(guided.guided_backprop(model, x, y)),
    "deconvnet": lambda model, x, y: largest(guided.deconvnet(model, x, y)),
    "IG, black baseline": lambda model, x, y: saliency.integrated_gradients(
        model, x, y, steps=IG_STEPS, batch_size=BATCH
    ).sum(dim=1),
    "IG, blurred baseline": lambda model, x, y: saliency.integrated_gradients(
        model, x, y, baseline=evaluation.blurred(x), steps=IG_STEPS, batch_size=BATCH
    ).sum(dim=1),
    "occlusion": lambda model, x, y: occlusion.occlusion(
        model, x, y, **OCCLUSION, batch_size=BATCH
    ),
    "Grad-CAM relu4": lambda model, x, y: gradcam.grad_cam(model, x, y, layer="relu4"),
    "Grad-CAM relu3": lambda model, x, y: gradcam.grad_cam(model, x, y, layer="relu3"),
    "guided Grad-CAM relu4": lambda model, x, y: largest(
        gradcam.guided_grad_cam(model, x, y, layer="relu4")
    ),
}


def segment(maps: torch.Tensor, true_masks: torch.Tensor) -> torch.Tensor:
    """Masks segmented from the maps, each keeping as many top pixels as its object has.

    Objects here differ up to 10x in area. With one fraction for all, a small object's IoU
    would be capped by the surplus pixels and a large one's by the missing ones, whatever
    the map; keeping the object's own share of the pixels (then the largest connected
    region of them) asks only *where* the map puts its weight, which is what is compared.
    """
    fractions = true_masks.flatten(1).float().mean(dim=1)
    return torch.cat(
        [evaluation.saliency_to_mask(m[None], f.item()) for m, f in zip(maps, fractions)]
    )


def localization(model, data: shapes.ShapesData, tolerance: int) -> tuple[list[dict], dict]:
    """Table (a), and every method's maps (reused by table (c))."""
    x, y, masks = data.images, data.labels, data.masks
    true_boxes = evaluation.mask_to_box(masks)
    rows, all_maps = [], {}
    for name, method in METHODS.items():
        start = time.perf_counter()
        maps = method(model, x, y)
        seconds = time.perf_counter() - start
        found = segment(maps, masks)
        box_iou = evaluation.box_iou(evaluation.mask_to_box(found), true_boxes)
        rows.append({
            "method": name,
            "pointing": evaluation.pointing_game(maps, masks),
            "tolerance": evaluation.pointing_game(maps, masks, tolerance=tolerance),
            "mask IoU": evaluation.iou(found, masks).mean().item(),
            "box IoU": box_iou.mean().item(),
            "seconds": seconds,
        })  # fmt: skip
        all_maps[name] = maps
    return rows, all_maps


def discrimination(model, pairs: shapes.ShapePairs) -> list[dict]:
    """Table (b): map k of each image explains the class of its object k."""
    rows = []
    for name, method in METHODS.items():
        maps = torch.stack([method(model, pairs.images, pairs.labels[:, k]) for k in (0, 1)], 1)
        rows.append({
            "method": name,
            "own object": evaluation.class_discrimination(maps, pairs.masks),
            "other object": evaluation.class_discrimination(maps, pairs.masks.flip(1)),
        })  # fmt: skip
    return rows


def faithfulness(model, x, y, all_maps: dict) -> list[dict]:
    """Table (c) on images ``x`` of classes ``y``, with the first ``len(x)`` maps of (a)."""
    substrate = evaluation.blurred(x)  # the curves' default, computed once for all methods
    rows = []
    for name, maps in all_maps.items():
        options = {"steps": CURVE_STEPS, "substrate": substrate}
        curves = {
            "deletion AUC": evaluation.deletion_curve(model, x, y, maps[: len(x)], **options),
            "insertion AUC": evaluation.insertion_curve(model, x, y, maps[: len(x)], **options),
        }
        row = {k: evaluation.area_under_curve(c).mean().item() for k, c in curves.items()}
        rows.append({"method": name, **row})
    return rows


def print_table(title: str, rows: list[dict], formats: dict[str, str]) -> None:
    print(title)
    header = f"{'method':<24}" + "".join(f" {column:>13}" for column in formats)
    print(header, "-" * len(header), sep="\n")
    for row in rows:
        cells = "".join(f" {row[column]:>13{spec}}" for column, spec in formats.items())
        print(f"{row['method']:<24}{cells}")
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="one-object images (max 1200)")
    parser.add_argument("--pairs", type=int, default=100, help="two-object images (max 600)")
    parser.add_argument(
        "--faithfulness-images", type=int, default=100, help="images of table (c), <= --images"
    )
    parser.add_argument("--tolerance", type=int, default=3, help="pixels, pointing game (a)")
    # An untrained network, to try the script before the shapes_anywhere weights exist.
    parser.add_argument("--untrained", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    env.set_threads()
    if args.untrained:
        torch.manual_seed(0)
        model = models.ShapesCNN().eval()
    else:
        model = models.load_model("shapes_anywhere")
    # The same weights stored in the layout the CPU's convolutions run fastest on.
    model = model.to(memory_format=torch.channels_last)
    single = shapes.ShapesData(*(t[: args.images] for t in shapes.load_anywhere("test")))
    pairs = shapes.ShapePairs(*(t[: args.pairs] for t in shapes.load_pairs("test")))
    n_faithful = min(args.faithfulness_images, len(single.images))
    accuracy = (models.predict(model, single.images).argmax(1) == single.labels).float().mean()
    print(
        f"{'An UNTRAINED' if args.untrained else 'The shapes_anywhere'} model, explaining the "
        f"true class of held-out 96 px images; it classifies {accuracy:.0%} of them correctly."
        f"\nSmoothGrad: {SMOOTHGRAD['n_samples']} samples, noise {SMOOTHGRAD['noise_level']}. "
        f"Integrated gradients (IG): {IG_STEPS} steps. Occlusion: {OCCLUSION['window']} px "
        f"window, stride {OCCLUSION['stride']}, replaced by black.\n"
    )
    rows, all_maps = localization(model, single, args.tolerance)
    print_table(
        f"(a) Localization: {len(single.images)} one-object images (masks keep as many top "
        "pixels as the object has)",
        rows,
        {"pointing": ".2f", "tolerance": ".2f", "mask IoU": ".2f", "box IoU": ".2f",
         "seconds": ".1f"},
    )  # fmt: skip
    print_table(
        f"(b) Class discrimination: {len(pairs.images)} two-object images, one map per object "
        "for its class (share of maps whose maximum is on ...)",
        discrimination(model, pairs),
        {"own object": ".2f", "other object": ".2f"},
    )
    x, y = single.images[:n_faithful], single.labels[:n_faithful]

    def p_true(images):  # the mean probability of the true class
        return models.predict(model, images).softmax(1)[torch.arange(len(y)), y].mean()

    print_table(
        f"(c) Faithfulness: {n_faithful} images, {CURVE_STEPS} steps, pixels replaced by the "
        f"image blurred (sigma {x.shape[2] / 8:g} px); p(true class) {p_true(x):.2f} on the "
        f"images, {p_true(evaluation.blurred(x)):.2f} blurred",
        faithfulness(model, x, y, all_maps),
        {"deletion AUC": ".3f", "insertion AUC": ".3f"},
    )
    print(f"{time.perf_counter() - started:.0f} s in all, {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
