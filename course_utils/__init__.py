"""Helpers for the course *Seeing inside convolutional networks*.

Modules (import the ones you need, e.g. ``from course_utils import data, models``):

* ``data``: digits, shapes with masks (from ``shapes``), bundled photos, image tensor helpers
* ``models``: the course CNNs with checksummed weights, ``predict``, an optional ImageNet loader
* ``hooks``: record activations and gradients of layers chosen by name (``hook_recorder``:
  lesson 02)
* ``viz``: image grids, heatmap overlays, filter grids, Hinton diagrams
* ``receptive``: receptive fields, unit windows, top-activating image patches
* ``embeddings``: PCA, k-nearest-neighbour accuracy, activation-atlas grids
* ``atlas``: an activation atlas of image patches: patch vectors, cell means, a feature
  visualization of each mean, the nearest real patches (lesson 03)
* ``env``: device choice, seeding, ``IS_COLAB``, an environment report
* ``grading``: the checks used by the notebooks' visible and hidden tests
* ``train``: ``python -m course_utils.train NAME`` retrains a shipped model; ``fit`` trains any
* ``attribution``, ``saliency``, ``guided``, ``gradcam``: gradient explanations (lessons 04-06;
  ``saliency.integrated_gradients``: lesson 07)
* ``occlusion``: explanations by hiding part of the image, without gradients (lesson 07)
* ``evaluation``: scoring explanations: IoU, pointing game, class discrimination, sanity
  checks, deletion and insertion curves
* ``dream``: class and channel visualization, DeepDream, guided dreams, translation tests
  (lesson 08)
* ``param``: feature visualization with a Fourier, colour-decorrelated image and random
  transformations (lesson 08)
* ``adversarial``: FGSM, PGD, a defense and its adaptive attack, shape bias (lesson 09)
* ``style``, ``artwork``: style transfer with Gram matrices, random VGG and filter-bank
  instruments, a texture statistic; painted style images (lesson 10)

Every explanation, attack and dream is called the same way, so one call teaches them all::

    method(model, x, target, *, layer=..., other options)

``x`` is a batch ``(N, C, H, W)``; ``target`` is one class index, ``N`` of them, or ``None``
for the predicted class (``attribution.Target``); ``layer`` is a name from
``hooks.layer_names(model)``. Each method leaves the model as it found it: the train/eval
mode of every submodule, the weights' ``.grad``, no hooks; and it never changes ``x``.
(``hooks`` keeps its layer-first form: ``record_activations(model, layer)``.)

Many functions here are also graded exercises of a lesson. In the copy of the course handed
out for grading, those of the current lesson and later ones raise ``NotImplementedError``:
you write them in the notebook, and the lesson then uses your version.
"""

__version__ = "0.1.0"
