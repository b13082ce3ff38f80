"""Digit classifiers: the independent judges that read what a conditional VAE draws (lesson 08).

A judge follows the loss protocol of `vae_course.vae`, so `fit` trains it: loss(x, y) returns the
cross-entropy -log softmax(logits)_y averaged over the batch, as the total and as its one part "ce".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vae import Loss
from .validate import require_images, require_positive_int


class DigitClassifier(nn.Module):
    """An MLP input_dim -> hidden_dim (ReLU) -> n_classes logits."""

    takes_labels = True

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

    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0, generator=None) -> Loss:
        """The cross-entropy of the labels y, averaged over the batch; beta and generator are not used."""
        ce = F.cross_entropy(self(x), y)
        return Loss(ce, {"ce": ce})

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> (B,) the most probable class of each image."""
        x = require_images("x", x, self.input_dim).to(self.net[0].weight)
        return self(x).argmax(dim=-1)
