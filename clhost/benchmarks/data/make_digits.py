"""Regenerate ``digits.npz``, the data of the embedded Split/Permuted Digits benchmarks.

Source: the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin and
C. Kaynak, 1998; https://doi.org/10.24432/C50P49), licensed CC BY 4.0. We use the copy of
its test part (1797 images of 8x8 pixels, grey levels 0..16, ten classes) that
scikit-learn ships as ``sklearn/datasets/data/digits.csv.gz``: one row per image, 64 pixel
values then the label.

The output holds ``train_x``/``test_x`` (uint8, shape (n, 64)) and ``train_y``/``test_y``
(int64) after a stratified 80/20 split drawn with ``numpy.random.default_rng(SEED)``, plus
``source_sha256`` (of the csv.gz) so the provenance can be checked. The split is stored,
not recomputed at run time, so it never changes with numpy versions.

Regenerate (scikit-learn is needed only here, never as a dependency of clhost)::

    pip download --no-deps scikit-learn -d /tmp/skl
    python clhost/benchmarks/data/make_digits.py /tmp/skl/scikit_learn-*.whl

The argument may also be the extracted ``digits.csv.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "sklearn/datasets/data/digits.csv.gz"
SEED = 0
TEST_FRACTION = 0.2
OUTPUT = Path(__file__).with_name("digits.npz")


def read_source(path: Path) -> bytes:
    """The compressed csv, read from a scikit-learn wheel or given directly."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(MEMBER)
    return path.read_bytes()


def stratified_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices holding ``TEST_FRACTION`` of every class in the test part."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = round(TEST_FRACTION * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def main(source: Path) -> None:
    compressed = read_source(source)
    table = np.loadtxt(io.BytesIO(gzip.decompress(compressed)), delimiter=",", dtype=np.int64)
    x, y = table[:, :64].astype(np.uint8), table[:, 64]
    if x.shape != (1797, 64) or x.max() > 16 or sorted(set(y.tolist())) != list(range(10)):
        raise SystemExit(f"{source} does not look like the UCI digits data")
    train, test = stratified_split(y, SEED)
    np.savez_compressed(
        OUTPUT,
        train_x=x[train],
        train_y=y[train],
        test_x=x[test],
        test_y=y[test],
        source_sha256=np.array(hashlib.sha256(compressed).hexdigest()),
    )
    print(f"wrote {OUTPUT}: {len(train)} train and {len(test)} test samples")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(
            f"usage: python {Path(__file__).name} <scikit-learn wheel or digits.csv.gz>"
        )
    main(Path(sys.argv[1]))
