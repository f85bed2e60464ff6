"""Plausible wrong answers for lessons/00_getting_started (format: tests/notebook_utils.py)."""

_DENORMALIZE_OK = """

def denormalize(x, mean, std):
    mean = torch.as_tensor(mean, dtype=x.dtype).reshape(-1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype).reshape(-1, 1, 1)
    return x * std + mean
"""

WRONG_ANSWERS = {
    "ex1_answer": [
        # Hard-codes the ImageNet statistics: passes the visible check, nothing else.
        "def normalize(x, mean, std):\n    return data.imagenet_normalize(x)\n" + _DENORMALIZE_OK,
        # Broadcasts the statistics along the last axis (width) instead of the channels.
        "def normalize(x, mean, std):\n"
        "    return (x - torch.tensor(mean)) / torch.tensor(std)\n" + _DENORMALIZE_OK,
        # Edits the caller's tensor in place.
        "def normalize(x, mean, std):\n"
        "    for c in range(x.shape[-3]):\n"
        "        x[..., c, :, :].sub_(mean[c]).div_(std[c])\n"
        "    return x\n" + _DENORMALIZE_OK,
        # Returns a NumPy array where a tensor is asked for.
        "def normalize(x, mean, std):\n"
        "    mean = np.asarray(mean).reshape(-1, 1, 1)\n"
        "    std = np.asarray(std).reshape(-1, 1, 1)\n"
        "    return (x.numpy() - mean) / std\n" + _DENORMALIZE_OK,
    ],
    "ex2_answer": [
        # Forgets model.eval(): dropout stays on.
        "def accuracy(model, images, labels, batch_size=256):\n"
        "    with torch.no_grad():\n"
        "        scores = torch.cat([model(images[i:i + batch_size])\n"
        "                            for i in range(0, len(images), batch_size)])\n"
        "    return (scores.argmax(dim=1) == labels).float().mean().item()\n",
        # Returns a tensor, not a float.
        "def accuracy(model, images, labels, batch_size=256):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        return (model(images).argmax(dim=1) == labels).float().mean()\n",
        # Drops the last, smaller batch.
        "def accuracy(model, images, labels, batch_size=256):\n"
        "    model.eval()\n"
        "    correct = 0\n"
        "    with torch.no_grad():\n"
        "        for start in range(0, len(images) - batch_size + 1, batch_size):\n"
        "            scores = model(images[start:start + batch_size])\n"
        "            correct += int((scores.argmax(1) == labels[start:start + batch_size]).sum())\n"
        "    return correct / len(images)\n",
    ],
    "ex3_answer": [
        # Rows and columns swapped (rows = predicted class).
        "def confusion_matrix(predictions, labels, n_classes):\n"
        "    matrix = torch.zeros(n_classes, n_classes, dtype=torch.int64)\n"
        "    for t, p in zip(labels.tolist(), predictions.tolist()):\n"
        "        matrix[p, t] += 1\n"
        "    return matrix\n",
        # Sizes the matrix by the classes that occur, not n_classes.
        "def confusion_matrix(predictions, labels, n_classes):\n"
        "    k = int(max(predictions.max(), labels.max())) + 1\n"
        "    matrix = torch.zeros(k, k, dtype=torch.int64)\n"
        "    for t, p in zip(labels.tolist(), predictions.tolist()):\n"
        "        matrix[t, p] += 1\n"
        "    return matrix\n",
        # Fancy indexing with += drops repeated index pairs: counts at most 1 per cell.
        "def confusion_matrix(predictions, labels, n_classes):\n"
        "    matrix = torch.zeros(n_classes, n_classes, dtype=torch.int64)\n"
        "    matrix[labels, predictions] += 1\n"
        "    return matrix\n",
        # Counts correctly but returns nested lists, not a tensor.
        "def confusion_matrix(predictions, labels, n_classes):\n"
        "    matrix = [[0] * n_classes for _ in range(n_classes)]\n"
        "    for t, p in zip(labels.tolist(), predictions.tolist()):\n"
        "        matrix[t][p] += 1\n"
        "    return matrix\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
