"""The shipped weights reach the accuracies the README states, on the fixed test splits."""

import re
from pathlib import Path

import pytest

from course_utils import adversarial, models, shapes, train

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_row(name: str) -> tuple[float, float]:
    """(stated accuracy, target) in percent from the README's table of shipped models."""
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == name:
            stated = float(re.fullmatch(r"([\d.]+)%", cells[3]).group(1))
            target = float(re.fullmatch(r"≥ ([\d.]+)%", cells[4]).group(1))
            return stated, target
    raise AssertionError(f"README.md has no row for the {name} model")


@pytest.mark.parametrize("name", sorted(models.WEIGHT_FILES))
def test_shipped_weights_reach_the_readme_accuracy(name):
    stated, target = readme_row(name)
    images, labels = train.load_split(name, "test")
    model = models.load_model(name)
    accuracy = 100 * (models.predict(model, images).argmax(dim=1) == labels).float().mean().item()
    print(f"{name}: {accuracy:.2f}% on {len(labels)} test images (README: {stated}%)")
    assert accuracy >= target, f"{name} model: {accuracy:.2f}% is below the {target}% target"
    assert round(accuracy, 1) == stated, (
        f"README states {stated}% but the weights give {accuracy:.2f}%"
    )


def test_the_patch_model_depends_on_the_patch():
    """Lesson 04's story: the biased model fails once the patch stops telling the class."""
    model = models.load_model("shapes_patch")
    for patch, ceiling in [(None, 0.35), (0.0, 0.10)]:  # no patch; a wrong-coloured patch
        data = train.load_shapes("test", patch=patch)
        accuracy = (models.predict(model, data.images).argmax(dim=1) == data.labels).float().mean()
        assert accuracy < ceiling, f"patch={patch}: accuracy {accuracy:.2f}, expected < {ceiling}"


def test_the_texture_model_decides_by_texture_and_the_shapes_model_by_shape():
    """Lesson 09's story: on cue-conflict images the two models follow different cues."""
    data = train.load_shapes("test", textures="class", conflict=True)
    biases = {}
    for name in ("shapes", "shapes_texture"):
        predictions = models.predict(models.load_model(name), data.images).argmax(dim=1)
        biases[name] = adversarial.shape_bias(predictions, data.labels, data.texture_labels)
    assert biases["shapes"] > 0.9 and biases["shapes_texture"] < 0.4, biases


def test_the_anywhere_model_finds_objects_the_shapes_model_misses():
    """Lessons 04, 06 and 07 score explanations on objects anywhere on a larger canvas."""
    data = train.load_shapes("test")  # a reminder that the old test split is centred
    anywhere = shapes.load_anywhere("test")
    accuracies = {
        name: (
            models.predict(models.load_model(name), anywhere.images).argmax(1) == anywhere.labels
        )
        .float()
        .mean()
        .item()
        for name in ("shapes", "shapes_anywhere")
    }
    assert accuracies["shapes_anywhere"] > accuracies["shapes"] + 0.3, accuracies
    assert data.images.shape[-1] == 64 and anywhere.images.shape[-1] == 96


def test_the_shuffled_model_memorized_and_knows_nothing_else():
    """Lesson 07's data randomization test: labels it memorized, chance on new images."""
    model = models.load_model("shapes_shuffled")
    anywhere = shapes.load_anywhere("test")
    accuracy = (models.predict(model, anywhere.images).argmax(1) == anywhere.labels).float().mean()
    assert accuracy < 0.3, f"{accuracy:.2f} on held-out images: it learned more than noise"
