"""vae_course.classifiers, the judges of lesson 08: shapes, the loss against torch's cross-entropy, learning
a toy task through `fit`, checkpoints, and bad sizes refused by name."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.classifiers import ConvDigitClassifier, DigitClassifier
from vae_course.train import fit

SIDE = 8  # toy images of 8 x 8 pixels, 4 classes


def strokes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n binary 8 x 8 images of 4 classes, each a short stroke at a random place, 2% of pixels flipped:
    0 a horizontal bar of 3, 1 a vertical bar of 3, 2 a 2 x 2 square, 3 a diagonal of 3. Flattened: (n, 64)."""
    g = torch.Generator().manual_seed(seed)
    shapes = [[(0, 0), (0, 1), (0, 2)], [(0, 0), (1, 0), (2, 0)], [(0, 0), (0, 1), (1, 0), (1, 1)], [(0, 0), (1, 1), (2, 2)]]
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.zeros(n, SIDE, SIDE)
    corners = torch.randint(0, SIDE - 2, (n, 2), generator=g)
    for i, (label, (r, c)) in enumerate(zip(y.tolist(), corners.tolist())):
        for dr, dc in shapes[label]:
            x[i, r + dr, c + dc] = 1.0
    flips = torch.rand(n, SIDE, SIDE, generator=g) < 0.02
    return torch.where(flips, 1.0 - x, x).reshape(n, SIDE * SIDE), y


def accuracy(judge, x, y) -> float:
    return float((judge.predict(x) == y).float().mean())


# ----------------------------------------------------------------------------------------------
# The MLP judge


def test_digit_classifier_loss_is_the_cross_entropy_and_nothing_else():
    torch.manual_seed(0)
    judge = DigitClassifier(input_dim=64, hidden_dim=7, n_classes=4)
    x, y = strokes(6)
    loss = judge.loss(x, y, beta=5.0)
    expected = -Categorical(logits=judge(x)).log_prob(y).mean()
    torch.testing.assert_close(loss.total, expected)
    assert list(loss.parts) == ["ce"] and torch.equal(loss["ce"], loss.total)
    assert torch.equal(judge.predict(x), judge(x).argmax(-1))
    with pytest.raises(ValueError, match="y_train must lie in 0..3, got 7"):
        fit(judge, x, torch.full((6,), 7), epochs=1, progress=False)
    with pytest.raises(ValueError, match="x must have 64 pixels per image"):
        judge.predict(torch.rand(2, 65))


def test_a_trained_judge_reads_the_prototypes():
    """The MLP learns the toy strokes through `fit`: far above chance (1/4) on fresh images. (It reads 0.88-0.92 of
    them over six seeds, the convolutional judge 0.94-0.95: a stroke in a new place is new pixels to an MLP.)"""
    x, y = strokes(1000)
    x_test, y_test = strokes(1000, seed=1)
    torch.manual_seed(0)
    judge = DigitClassifier(input_dim=64, hidden_dim=64, n_classes=4)
    before = accuracy(judge, x_test, y_test)
    fit(judge, x, y, epochs=30, batch_size=50, lr=3e-3, progress=False)
    assert before < 0.5 and accuracy(judge, x_test, y_test) > 0.8, (before, accuracy(judge, x_test, y_test))


# ----------------------------------------------------------------------------------------------
# The convolutional judge


@pytest.mark.parametrize("input_dim, channels, pooled", [(64, (3, 5), 2), (49, (2, 4), 1), (784, (16, 32), 7)])
def test_conv_classifier_shapes(input_dim, channels, pooled):
    """The side is read from input_dim; two 2 x 2 poolings leave side // 4 per axis for the linear head."""
    torch.manual_seed(0)
    judge = ConvDigitClassifier(input_dim=input_dim, channels=channels, n_classes=3)
    x = torch.rand(5, input_dim)
    assert judge(x).shape == (5, 3) and judge.predict(x).shape == (5,)
    assert judge.head.in_features == channels[1] * pooled * pooled
    assert [m.out_channels for m in judge.features if isinstance(m, torch.nn.Conv2d)] == list(channels)


def test_conv_classifier_loss_is_torchs_cross_entropy():
    torch.manual_seed(0)
    judge = ConvDigitClassifier(input_dim=64, channels=(3, 4), n_classes=4)
    x, y = strokes(9)
    loss = judge.loss(x, y, beta=2.0, generator=torch.Generator().manual_seed(1))
    logits = judge(x)
    torch.testing.assert_close(loss.total, F.cross_entropy(logits, y))
    torch.testing.assert_close(loss.total, -Categorical(logits=logits).log_prob(y).mean())
    assert list(loss.parts) == ["ce"] and torch.equal(loss["ce"], loss.total)


def test_conv_classifier_reads_each_row_of_pixels_as_a_picture():
    """With both filters set to pass the centre pixel through (1 at the middle of the 3 x 3 window, 0 elsewhere)
    and the head to the identity, the logits of an 8 x 8 image are the largest pixel of each 4 x 4 quadrant
    (two 2 x 2 poolings), read here straight from the picture: top left, top right, bottom left, bottom right."""
    judge = ConvDigitClassifier(input_dim=64, channels=(1, 1), n_classes=4)
    with torch.no_grad():
        for conv in (judge.features[0], judge.features[3]):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
            conv.bias.zero_()
        judge.head.weight.copy_(torch.eye(4))
        judge.head.bias.zero_()
    x = torch.rand(3, 64)
    pictures = x.reshape(3, SIDE, SIDE)  # pixel (r, c) of an image is entry r * 8 + c of its row
    quadrants = [pictures[:, r:r + 4, c:c + 4].amax(dim=(1, 2)) for r in (0, 4) for c in (0, 4)]
    torch.testing.assert_close(judge(x), torch.stack(quadrants, dim=1))


@pytest.mark.parametrize("seed", [0, 1])
def test_conv_classifier_learns_strokes_wherever_they_are(seed):
    x, y = strokes(1000, seed=2 * seed)
    x_test, y_test = strokes(1000, seed=2 * seed + 1)
    torch.manual_seed(seed)
    judge = ConvDigitClassifier(input_dim=64, channels=(8, 16), n_classes=4)
    before = accuracy(judge, x_test, y_test)
    history = fit(judge, x, y, epochs=25, batch_size=50, lr=3e-3, generator=seed, progress=False)
    after = accuracy(judge, x_test, y_test)
    assert set(history.train) == {"total", "ce"} and history.train["ce"][-1] < 0.5 * history.train["ce"][0]
    assert before < 0.5 and after > 0.9, (before, after)  # 0.94-0.95 over six seeds


def test_conv_classifier_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    judge = ConvDigitClassifier(input_dim=64, channels=(3, 5), n_classes=4)
    loaded, _, _ = load_checkpoint(save_checkpoint(tmp_path / "judge.pt", judge))
    assert type(loaded) is ConvDigitClassifier and loaded.config() == judge.config()
    x = torch.rand(4, 64)
    torch.testing.assert_close(loaded(x), judge(x))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(input_dim=783), ValueError, "input_dim must be the number of pixels of a square image of side >= 4"),
    (dict(input_dim=9), ValueError, r"input_dim must be the number of pixels of a square image of side >= 4 .*, got 9"),
    (dict(input_dim=0), ValueError, "input_dim must be a positive integer"),
    (dict(input_dim=784.0), TypeError, "input_dim must be a positive integer"),
    (dict(channels=(0, 4)), ValueError, r"channels\[0\] must be a positive integer, got 0"),
    (dict(channels=(4, 2.5)), TypeError, r"channels\[1\] must be a positive integer"),
    (dict(channels=(4,)), ValueError, "channels must be two positive integers"),
    (dict(channels=8), ValueError, "channels must be two positive integers"),
    (dict(n_classes=0), ValueError, "n_classes must be a positive integer"),
])
def test_conv_classifier_refuses_bad_sizes_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        ConvDigitClassifier(**kwargs)


def test_conv_classifier_refuses_images_of_another_size():
    judge = ConvDigitClassifier(input_dim=64, channels=(2, 2), n_classes=4)
    with pytest.raises(ValueError, match="x must have 64 pixels per image"):
        judge.predict(torch.rand(2, 49))
    with pytest.raises(ValueError, match="x_train must have 64 pixels per image"):
        fit(judge, torch.rand(4, 49), torch.zeros(4, dtype=torch.long), epochs=1, progress=False)
