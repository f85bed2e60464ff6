"""Plausible wrong answers for lessons/10_style_transfer (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import cut_lines as _cut
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("10_style_transfer")))
_CONTENT = _SOLUTION["ex1_answer"]
_GRAM = _SOLUTION["ex2_answer"]
_STYLE = _SOLUTION["ex3_answer"]
_TV = _SOLUTION["ex4_answer"]
_CLOSURE = _SOLUTION["ex5_answer"]


_GRAM_RETURN = "    return flat @ flat.transpose(1, 2) / (h * w)"
_DOWN = "((images[:, :, 1:, :] - images[:, :, :-1, :]) ** 2).sum()"
_RIGHT = "((images[:, :, :, 1:] - images[:, :, :, :-1]) ** 2).sum()"
_TV_RETURN = "return weight * (down + right)"

WRONG_ANSWERS = {
    "ex1_answer": [
        # The mean of the squared differences instead of their sum.
        _with(_CONTENT, "** 2).sum()", "** 2).mean()"),
        # Absolute differences instead of squares.
        _with(_CONTENT, "((features - target) ** 2).sum()", "(features - target).abs().sum()"),
        # Forgets the weight.
        _with(_CONTENT, "return weight * (", "return ("),
        # No shape check: features of the wrong layer (or a broadcast batch) go unnoticed.
        _cut(_CONTENT, "if features.shape != target.shape:", "return weight *"),
    ],
    "ex2_answer": [
        # Another normalization: divides by C * H * W (CS231n, PyTorch tutorial).
        _with(_GRAM, "/ (h * w)", "/ (c * h * w)"),
        # No normalization at all (Gatys et al. put theirs in the loss).
        _with(_GRAM, "flat @ flat.transpose(1, 2) / (h * w)", "flat @ flat.transpose(1, 2)"),
        # The transposed product: (HW x HW) correlations between positions.
        _with(_GRAM, "flat @ flat.transpose(1, 2)", "flat.transpose(1, 2) @ flat"),
        # A Python loop over the channel pairs.
        _with(
            _GRAM,
            _GRAM_RETURN,
            "    gram = torch.zeros(n, c, c)\n"
            "    for i in range(c):\n"
            "        for j in range(c):\n"
            "            gram[:, i, j] = (flat[:, i] * flat[:, j]).sum(dim=1) / (h * w)\n"
            "    return gram",
        ),
        # A comprehension over the images of the batch.
        _with(
            _GRAM,
            _GRAM_RETURN,
            "    grams = [f.reshape(c, h * w) @ f.reshape(c, h * w).T for f in features]\n"
            "    return torch.stack(grams) / (h * w)",
        ),
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
        _cut(_STYLE, "if not len(features) == len(target_grams) == len(weights):", "total = "),
    ],
    "ex4_answer": [
        # Absolute values instead of squares.
        _with(
            _with(_TV, _DOWN, "(images[:, :, 1:, :] - images[:, :, :-1, :]).abs().sum()"),
            _RIGHT,
            "(images[:, :, :, 1:] - images[:, :, :, :-1]).abs().sum()",
        ),
        # Only one direction (vertical neighbours).
        _with(_TV, _TV_RETURN, "return weight * down"),
        # Adds the diagonal neighbours too.
        _with(
            _TV,
            _TV_RETURN,
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
            _with(_TV, _DOWN, _DOWN.replace(".sum()", ".mean()")),
            _RIGHT,
            _RIGHT.replace(".sum()", ".mean()"),
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
        # Forgets the sigmoid: the losses of z itself, as if z were the image.
        _with(_CLOSURE, "        x = torch.sigmoid(z)\n", "        x = z\n"),
        # Clamps z to [0, 1] instead of passing it through the sigmoid.
        _with(_CLOSURE, "x = torch.sigmoid(z)", "x = z.clamp(0, 1)"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
    "ex5_answer": ["ex5_hidden"],
}
