"""Time the course's explanation methods and attacks against their reference libraries.

    python tools/benchmark_methods.py [--repeats 7] [--models shapes resnet18] [--threads 1]

Each method runs on the same model, batch and targets as its reference (Captum,
pytorch-grad-cam, torchattacks), on the CPU. The table gives the median time of one call
of each, and the ratio ours / theirs: above 1 means the course is slower. Every pair is
also checked to give the same result; a mismatch is printed loudly and the exit status is 1.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from importlib.metadata import version

import captum
import torch
import torchattacks
import torchvision
from captum.attr import (
    GuidedBackprop,
    IntegratedGradients,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from course_utils import adversarial, gradcam, guided, models, occlusion, saliency

# Captum sets requires_grad on the input itself and says so at every call; it also warns
# each time it hooks ReLUs for guided backprop. Neither is news to a benchmark.
warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients")
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")

# Model name -> the layer Grad-CAM reads: the last convolutional stage, a module that runs
# exactly once per forward pass (ResNet's block ReLUs are reused, so not "layer4.1.relu").
LAYERS = {
    "shapes": "relu4",
    "resnet18": "layer4",
    "vgg11_bn": "features.27",  # the ReLU after the last convolution, before the last pool
    "mobilenet_v3_small": "features.12",  # the last conv + BN + Hardswish block
}
EPS, ALPHA = 8 / 255, 2 / 255
IG_STEPS = 16
# On the 64 px batch, 3 x 3 windows that tile the image exactly (Captum stops at the last
# stride that fits; ours adds a window at the far edge, which here is already there).
WINDOW, STRIDE = 32, 16


def build_model(name: str) -> torch.nn.Module:
    if name == "shapes":
        return models.load_model("shapes").eval()
    torch.manual_seed(0)  # the same random weights at every run
    return torchvision.models.get_model(name, weights=None, num_classes=10).eval()


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    # One pixel 0 and one 1 in every image: each image's value range is exactly 1, so our
    # per-image SmoothGrad sigma (noise_level * range) is the single float Captum takes.
    x[:, 0, 0, 0], x[:, 0, 0, 1] = 0.0, 1.0
    return x, torch.tensor([0, 1, 2, 3])


def close(tolerance, renormalize=False):
    """A check that ours equals theirs (first min-max rescaled to [0, 1] if ``renormalize``)."""

    def check(ours, theirs):
        if renormalize:
            theirs = gradcam.normalize_maps(theirs)
        return torch.allclose(ours, theirs, rtol=tolerance, atol=tolerance)

    return check


def pairs(model, x, t, layer):
    """(method, ours, theirs, check or None) for one model. Every call builds its reference
    object (Saliency(model), a GradCAM, an attack), as our functions do their own setup."""
    module = dict(model.named_modules())[layer]
    labels = [ClassifierOutputTarget(int(c)) for c in t]
    pgd = {"eps": EPS, "alpha": ALPHA, "steps": 10, "random_start": False}

    def library_smoothgrad():
        # 10 noisy copies of the 4 images in one pass (nt_samples_batch_size=None), as ours;
        # stdevs is our sigma, 0.15 times each image's range of 1 (see make_batch), and the
        # max over channels gives our (N, H, W) shape.
        tunnel = NoiseTunnel(Saliency(model))
        maps = tunnel.attribute(
            x, nt_type="smoothgrad", nt_samples=10, nt_samples_batch_size=None, stdevs=0.15,
            target=t, abs=True,
        )  # fmt: skip
        return maps.amax(dim=1)

    def library_occlusion():
        # 9 windows x 4 images: as many images per forward pass as ours (batch_size=64)
        # takes, rather than Captum's default of one window per pass.
        maps = Occlusion(model).attribute(
            x, sliding_window_shapes=(3, WINDOW, WINDOW), strides=(3, STRIDE, STRIDE),
            target=t, perturbations_per_eval=16,
        )  # fmt: skip
        return maps[:, 0]  # every channel holds the same value

    def library_raw_grad_cam():
        return LayerGradCam(model, module).attribute(x, target=t, relu_attributions=True)[:, 0]

    def library_grad_cam():
        with GradCAM(model, target_layers=[module]) as cam:  # `with` removes its hooks
            return torch.from_numpy(cam(x, targets=labels))

    return [
        (
            "saliency",
            lambda: saliency.saliency_map(model, x, t),
            lambda: Saliency(model).attribute(x, target=t, abs=True).amax(dim=1),
            close(1e-5),
        ),
        (
            "smoothgrad",
            lambda: saliency.smoothgrad(model, x, t, n_samples=10, noise_level=0.15),
            library_smoothgrad,
            None,  # no value check: the two draw different noise
        ),
        (
            "integrated_grads",
            # 16 steps x 4 images: one pass for both (ours: batch_size=64; Captum: all at once)
            lambda: saliency.integrated_gradients(model, x, t, steps=IG_STEPS),
            lambda: IntegratedGradients(model).attribute(
                x, target=t, n_steps=IG_STEPS, method="riemann_middle"
            ),
            close(1e-5),
        ),
        (
            "occlusion",
            lambda: occlusion.occlusion(model, x, t, window=WINDOW, stride=STRIDE),
            library_occlusion,
            close(1e-5),
        ),
        (
            "guided_backprop",
            lambda: guided.guided_backprop(model, x, t),
            lambda: GuidedBackprop(model).attribute(x, target=t),
            close(1e-5),
        ),
        (
            "grad_cam (raw)",
            lambda: gradcam.grad_cam(model, x, t, layer=layer, resize=False, normalize=False),
            library_raw_grad_cam,
            close(1e-5),
        ),
        (
            "grad_cam",
            lambda: gradcam.grad_cam(model, x, t, layer=layer),
            library_grad_cam,
            # pytorch-grad-cam divides by (max + 1e-7), and the raw maps of the untrained
            # MobileNet are 1e-11 to 1e-10: rescaling its maps to [0, 1] undoes that epsilon.
            close(1e-5, renormalize=True),
        ),
        (
            "fgsm",
            lambda: adversarial.fgsm(model, x, t, eps=EPS),
            lambda: torchattacks.FGSM(model, eps=EPS)(x, t),
            close(1e-6),
        ),
        (
            "pgd",
            lambda: adversarial.pgd(model, x, t, **pgd),
            lambda: torchattacks.PGD(model, **pgd)(x, t),
            close(1e-6),
        ),
    ]


def elapsed_ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls of each (default 7)")
    parser.add_argument(
        "--models", nargs="+", choices=list(LAYERS), default=list(LAYERS), help="default: all"
    )
    # One thread by default: ours and theirs run one after the other, and on a shared machine
    # a single thread is less disturbed by other work than several would be.
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, captum {captum.__version__}, pytorch-grad-cam "
        f"{version('grad-cam')}, torchattacks {torchattacks.__version__}; CPU, "
        f"{torch.get_num_threads()} thread(s), batch 4x3x64x64, median of {args.repeats}"
    )
    header = f"{'method':<16} {'model':<19} {'ours ms':>9} {'theirs ms':>9} {'ratio':>6}  check"
    print(header, "-" * len(header), sep="\n")
    x, t = make_batch()
    worst, mismatches = (0.0, ""), []
    for model_name in args.models:
        model = build_model(model_name)
        for method, ours, theirs, agree in pairs(model, x, t, LAYERS[model_name]):
            # The warm-up calls (first-call allocations, lazy imports) give the values to check.
            mine, reference = ours(), theirs()
            if agree is None:
                check = "skipped (different noise)"
            elif agree(mine, reference):
                check = "ok"
            else:
                gap = (mine - reference).abs().max().item()
                check = f"MISMATCH (max abs diff {gap:.3g})"
                mismatches.append(f"{method} on {model_name}: {check}")
            times = {ours: [], theirs: []}
            # As timeit does: no garbage collection while timing, where it would charge a
            # collection of everyone's garbage to whichever call happened to trigger it.
            gc.collect()
            gc.disable()
            for repeat in range(args.repeats):
                # Alternate which goes first, so that neither always runs on a warmer cache.
                for fn in (ours, theirs) if repeat % 2 == 0 else (theirs, ours):
                    times[fn].append(elapsed_ms(fn))
            gc.enable()
            ms_ours, ms_theirs = (statistics.median(times[fn]) for fn in (ours, theirs))
            ratio = ms_ours / ms_theirs
            worst = max(worst, (ratio, f"{method} on {model_name}"))
            print(
                f"{method:<16} {model_name:<19} {ms_ours:>9.2f} {ms_theirs:>9.2f} {ratio:>6.2f}  "
                f"{check}",
                flush=True,
            )
    print(f"worst ratio (ours/theirs): {worst[0]:.2f} ({worst[1]})")
    for line in mismatches:
        print(f"!!! MISMATCH: {line}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
