"""Digit classifiers: the independent judges that read what a conditional VAE draws (lesson 08).

A judge follows the loss protocol of `vae_course.vae`, so `fit` trains it: loss(x, y) returns the
cross-entropy -log softmax(logits)_y averaged over the batch, as the total and as its one part "ce".
Both take flattened images (B, input_dim) and return class logits (B, n_classes).

    DigitClassifier       an MLP, input_dim -> hidden_dim (ReLU) -> n_classes
    ConvDigitClassifier   two 3 x 3 convolutions, each followed by ReLU and 2 x 2 max-pooling, and a linear head
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .vae import Loss
from .validate import require_images, require_positive_int


class Judge(nn.Module):
    """What the judges share: the cross-entropy loss of the protocol and `predict`. A subclass defines forward."""

    takes_labels = True

    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0, generator=None) -> Loss:
        """The cross-entropy of the labels y, averaged over the batch; beta and generator are not used."""
        ce = F.cross_entropy(self(x), y)  # -log softmax(logits)_y, averaged over the batch
        return Loss(ce, {"ce": ce})

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> (B,) the most probable class of each image."""
        x = require_images("x", x, self.input_dim).to(next(self.parameters()))
        return self(x).argmax(dim=-1)


class DigitClassifier(Judge):
    """An MLP input_dim -> hidden_dim (ReLU) -> n_classes logits."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, n_classes: int = 10):
        super().__init__()
        self.input_dim = require_positive_int("input_dim", input_dim)
        self.hidden_dim = require_positive_int("hidden_dim", hidden_dim)
        self.n_classes = require_positive_int("n_classes", n_classes)
        self.net = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_classes))

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "n_classes": self.n_classes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) images -> (B, n_classes) logits."""
        return self.net(x)


class ConvDigitClassifier(Judge):
    """A small convolutional network for square images of side s = sqrt(input_dim):

    (B, 1, s, s) -> conv 3x3 to channels[0] (padding 1), ReLU, max-pool 2 -> (B, channels[0], s//2, s//2)
                 -> conv 3x3 to channels[1] (padding 1), ReLU, max-pool 2 -> (B, channels[1], s//4, s//4)
                 -> flatten -> linear -> (B, n_classes) logits.

    Unlike the MLP, it is built to see that a stroke moved by a pixel is still the same stroke: each filter
    reads a 3 x 3 neighbourhood wherever it is, and pooling forgets exactly where within 2 x 2.
    """

    def __init__(self, input_dim: int = 784, channels: tuple[int, int] = (16, 32), n_classes: int = 10):
        super().__init__()
        self.input_dim = require_positive_int("input_dim", input_dim)
        side = math.isqrt(self.input_dim)
        if side * side != self.input_dim or side < 4:
            raise ValueError(f"input_dim must be the number of pixels of a square image of side >= 4 "
                             f"(784 for 28 x 28), got {input_dim}")
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) != 2:
            raise ValueError(f"channels must be two positive integers (the two convolutions' widths), got {channels!r}")
        self.channels = (require_positive_int("channels[0]", channels[0]), require_positive_int("channels[1]", channels[1]))
        self.n_classes = require_positive_int("n_classes", n_classes)
        self.side = side
        c1, c2 = self.channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c1, s//2, s//2)
            nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c2, s//4, s//4)
        )
        self.head = nn.Linear(c2 * (side // 2 // 2) ** 2, self.n_classes)

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "channels": list(self.channels), "n_classes": self.n_classes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) images -> (B, n_classes) logits."""
        h = self.features(x.reshape(len(x), 1, self.side, self.side))
        return self.head(h.flatten(start_dim=1))
