"""Plausible wrong answers for lessons/09_style_transfer (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The solution of exercise 1, from which most wrong answers differ by one line.
_CONTENT = """def content_loss(features, target, weight=1.0):
    if features.shape != target.shape:
        raise ValueError("features and target differ: same layer?")
    return weight * ((features - target) ** 2).sum()
"""

_GRAM = """def gram_matrix(features):
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
"""

_STYLE = """def style_loss(features, target_grams, weights):
    if not len(features) == len(target_grams) == len(weights):
        raise ValueError("need one target and one weight per layer")
    total = torch.zeros(())
    for layer_features, target, weight in zip(features, target_grams, weights):
        total = total + weight * ((gram_matrix(layer_features) - target) ** 2).sum()
    return total
"""

_TV = """def tv_loss(images, weight=1.0):
    down = ((images[:, :, 1:, :] - images[:, :, :-1, :]) ** 2).sum()
    right = ((images[:, :, :, 1:] - images[:, :, :, :-1]) ** 2).sum()
    return weight * (down + right)
"""

# Exercise 5's solution, read from the teacher notebook (course_utils.style.make_closure
# holds the same code; a copy here could drift from both).
_CLOSURE = correct_answers(read(solution_path("09_style_transfer")))["ex5_answer"]


WRONG_ANSWERS = {
    "ex1_answer": [
        # The mean of the squared differences instead of their sum.
        _with(_CONTENT, "** 2).sum()", "** 2).mean()"),
        # Absolute differences instead of squares.
        _with(_CONTENT, "((features - target) ** 2).sum()", "(features - target).abs().sum()"),
        # Forgets the weight.
        _with(_CONTENT, "return weight * (", "return ("),
        # No shape check: features of the wrong layer (or a broadcast batch) go unnoticed.
        "def content_loss(features, target, weight=1.0):\n"
        "    return weight * ((features - target) ** 2).sum()\n",
    ],
    "ex2_answer": [
        # Another normalization: divides by C * H * W (CS231n, PyTorch tutorial).
        _with(_GRAM, "/ (h * w)", "/ (c * h * w)"),
        # No normalization at all (Gatys et al. put theirs in the loss).
        _with(_GRAM, "flat @ flat.transpose(1, 2) / (h * w)", "flat @ flat.transpose(1, 2)"),
        # The transposed product: (HW x HW) correlations between positions.
        _with(_GRAM, "flat @ flat.transpose(1, 2)", "flat.transpose(1, 2) @ flat"),
        # A Python loop over the channel pairs.
        "def gram_matrix(features):\n"
        "    n, c, h, w = features.shape\n"
        "    flat = features.reshape(n, c, h * w)\n"
        "    gram = torch.zeros(n, c, c)\n"
        "    for i in range(c):\n"
        "        for j in range(c):\n"
        "            gram[:, i, j] = (flat[:, i] * flat[:, j]).sum(dim=1) / (h * w)\n"
        "    return gram\n",
        # A comprehension over the images of the batch.
        "def gram_matrix(features):\n"
        "    n, c, h, w = features.shape\n"
        "    grams = [f.reshape(c, h * w) @ f.reshape(c, h * w).T for f in features]\n"
        "    return torch.stack(grams) / (h * w)\n",
    ],
    "ex3_answer": [
        # Forgets the layer weights.
        _with(_STYLE, "total = total + weight * (", "total = total + ("),
        # Treats the targets as feature maps and takes their Gram matrix again.
        _with(
            _STYLE,
            "gram_matrix(layer_features) - target)",
            "gram_matrix(layer_features) - gram_matrix(target))",
        ),
        # Recomputes the Gram matrix inline, without dividing by H * W.
        _with(
            _STYLE,
            "total = total + weight * ((gram_matrix(layer_features) - target) ** 2).sum()",
            "flat = layer_features.flatten(2)\n"
            "        gram = flat @ flat.transpose(1, 2)\n"
            "        total = total + weight * ((gram - target) ** 2).sum()",
        ),
        # The mean of the squared differences instead of their sum.
        _with(_STYLE, "- target) ** 2).sum()", "- target) ** 2).mean()"),
        # No length check: zip silently drops the extra layers.
        _with(
            _STYLE,
            "    if not len(features) == len(target_grams) == len(weights):\n"
            '        raise ValueError("need one target and one weight per layer")\n',
            "",
        ),
    ],
    "ex4_answer": [
        # Absolute values instead of squares.
        "def tv_loss(images, weight=1.0):\n"
        "    down = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().sum()\n"
        "    right = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().sum()\n"
        "    return weight * (down + right)\n",
        # Only one direction (vertical neighbours).
        _with(_TV, "return weight * (down + right)", "return weight * down"),
        # Adds the diagonal neighbours too.
        _with(
            _TV,
            "return weight * (down + right)",
            "diagonal = ((images[:, :, 1:, 1:] - images[:, :, :-1, :-1]) ** 2).sum()\n"
            "    return weight * (down + right + diagonal)",
        ),
        # Diagonal differences in place of the horizontal ones.
        _with(
            _TV,
            "images[:, :, :, 1:] - images[:, :, :, :-1]",
            "images[:, :, 1:, 1:] - images[:, :, :-1, :-1]",
        ),
        # Means instead of sums.
        _with(
            _with(_TV, ":-1, :]) ** 2).sum()", ":-1, :]) ** 2).mean()"),
            ":-1]) ** 2).sum()",
            ":-1]) ** 2).mean()",
        ),
    ],
    "ex5_answer": [
        # Forgets to zero the gradients: they add up from call to call.
        _with(_CLOSURE, "        optimizer.zero_grad()\n", ""),
        # Content loss on the wrong layer: the content layer is put last, features[0] used.
        _with(
            _CLOSURE,
            "layers = [content_layer, *style_layers]",
            "layers = [*style_layers, content_layer]",
        ),
        # Forgets backward(): the optimizer gets no gradient.
        _with(_CLOSURE, "        loss.backward()\n", ""),
        # The TV loss of the content target instead of the image.
        _with(_CLOSURE, "tv_loss(x, tv_weight)", "tv_loss(content_target, tv_weight)"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
    "ex5_answer": ["ex5_hidden"],
}
