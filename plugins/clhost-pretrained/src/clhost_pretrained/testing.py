"""Test kit of the pretrained-model methods: a tiny timm ViT, images of textured classes,
and a "pretrained" checkpoint made by training on classes the stream never shows, saved
to disk so that tests read it through the offline loading path. CPU, seconds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from clhost.benchmarks import class_incremental
from clhost.data import Benchmark, TensorData
from clhost_pretrained.backbone import create_backbone

TINY_VIT = "vit_tiny_patch16_224"
TINY_VIT_KWARGS = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 64, "num_heads": 2}
_CELLS, _CELL = 4, 8  # a 32x32 image is 4x4 cells of 8x8 pixels, one ViT patch each
_TEXTURES = 8


def tiny_vit(**overrides: object) -> torch.nn.Module:
    """``TINY_VIT`` at 32x32, patch 8, depth 2, width 64 (``overrides`` change them)."""
    return create_backbone(TINY_VIT, **{**TINY_VIT_KWARGS, **overrides})


def texture_images(
    n_classes: int, n_per_class: int, *, seed: int, noise: float = 0.6
) -> tuple[TensorData, TensorData]:
    """Train and test images (``3 x 32 x 32``) of ``n_classes`` classes, drawn by ``seed``.

    Every class is a layout of textures on the 4x4 grid; the textures come from one bank
    shared by every seed, so features learned on the classes of one seed serve the
    classes of another. A sample is its class's layout with each cell swapped for a
    random texture with probability 1/4, plus Gaussian noise of std ``noise``."""
    bank = torch.randn(_TEXTURES, 3, _CELL, _CELL, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(seed)
    layouts = torch.randint(_TEXTURES, (n_classes, _CELLS * _CELLS), generator=generator)

    def draw() -> TensorData:
        y = torch.arange(n_classes).repeat_interleave(n_per_class)
        cells = layouts[y].clone()
        swap = torch.rand(cells.shape, generator=generator) < 0.25
        cells[swap] = torch.randint(_TEXTURES, (int(swap.sum()),), generator=generator)
        grid = bank[cells].view(len(y), _CELLS, _CELLS, 3, _CELL, _CELL)
        x = grid.permute(0, 3, 1, 4, 2, 5).reshape(len(y), 3, _CELLS * _CELL, _CELLS * _CELL)
        return TensorData(x + noise * torch.randn(x.shape, generator=generator), y)

    return draw(), draw()


def texture_stream(
    n_experiences: int = 3, classes_per_experience: int = 2, n_per_class: int = 40, seed: int = 1
) -> Benchmark:
    """A class-incremental stream of texture classes, 3x32x32 images made in memory
    (seed 0's classes are the pretraining ones: use another seed). Registered as the
    benchmark ``textures``, so ``clhost run`` can try these methods on a fresh machine."""
    train, test = texture_images(n_experiences * classes_per_experience, n_per_class, seed=seed)
    return class_incremental(train, test, n_experiences, name="textures")


def pretrain(
    path: str | Path, *, n_classes: int = 48, n_per_class: int = 30, epochs: int = 10
) -> Path:
    """Train ``tiny_vit`` with a head on ``n_classes`` texture classes of seed 0 and save
    its weights, head included, as timm saves a checkpoint; returns ``path``."""
    torch.manual_seed(0)
    model = tiny_vit(num_classes=n_classes)
    train, _ = texture_images(n_classes, n_per_class, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(train.y)).split(32):
            optimizer.zero_grad()
            F.cross_entropy(model(train.x[batch]), train.y[batch]).backward()
            optimizer.step()
    path = Path(path)
    torch.save(model.state_dict(), path)
    return path


def write_cifar100(root: str | Path, per_class: int = 4) -> Path:
    """Split CIFAR-100's files under ``root`` in torchvision's on-disk format (pickled
    uint8 rows of random images, ``per_class`` of each class in each split); returns
    ``root``. torchvision checks the real files' digests: patch
    ``torchvision.datasets.cifar.check_integrity`` to accept these."""
    import pickle

    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(100).repeat_interleave(per_class).tolist()
    for split in ("train", "test"):
        rows = torch.randint(256, (len(labels), 3 * 32 * 32), generator=generator)
        content = {"data": rows.to(torch.uint8).numpy(), "fine_labels": labels}
        (folder / split).write_bytes(pickle.dumps({**content, "coarse_labels": labels}))
    names = {"fine_label_names": [f"class{i}" for i in range(100)]}
    (folder / "meta").write_bytes(pickle.dumps(names))
    return Path(root)


def pretrained_vit(path: str | Path, **overrides: object) -> torch.nn.Module:
    """``tiny_vit`` with the weights ``pretrain`` saved at ``path``, read offline."""
    kwargs = {**TINY_VIT_KWARGS, **overrides}
    return create_backbone(TINY_VIT, pretrained=True, pretrained_path=path, **kwargs)


def seeded_strategy(
    strategy_class: Callable[..., Any],
    path: str | Path,
    settings: Mapping[str, Any],
    options: Mapping[str, Any],
) -> Any:
    """``strategy_class`` on ``pretrained_vit(path)`` with a test's ``settings``, which
    ``options`` override, built after seeding torch with 0."""
    torch.manual_seed(0)
    return strategy_class(model=pretrained_vit(path), **{**settings, **options})


def assert_one_clear_error(make: Callable[[], Any], benchmark: Benchmark, message: str) -> None:
    """Building ``make()`` and training it over ``benchmark`` raises one ``ParameterError``
    matching ``message`` (a setting may be found wrong only once an experience shows it)."""
    import pytest

    from clhost.errors import ParameterError

    with pytest.raises(ParameterError, match=message):
        strategy = make()
        for experience in benchmark.train_stream:
            strategy.train(experience)


def assert_beats_naive(
    strategy: Any, benchmark: Benchmark, path: str | Path, *, margin: float
) -> tuple[float, float]:
    """The effect test: ``strategy`` trained on ``benchmark`` must beat ``naive_accuracy``
    of the ViT ``pretrain`` saved at ``path`` by ``margin``; returns both accuracies."""
    for experience in benchmark.train_stream:
        strategy.train(experience)
    accuracy = strategy.eval(benchmark.test_stream).accuracy
    naive = naive_accuracy(benchmark, path)
    assert accuracy > naive + margin, f"{type(strategy).__name__} {accuracy:.3f}, naive {naive:.3f}"
    return accuracy, naive


def naive_accuracy(
    benchmark: Benchmark, path: str | Path, *, epochs: int = 3, lr: float = 1e-3
) -> float:
    """The baseline of the effect tests: the same pretrained ViT with a head, finetuned
    whole with Adam on each experience in turn; its accuracy over the test stream."""
    from clhost.templates import SupervisedTemplate

    torch.manual_seed(0)
    model = pretrained_vit(path, num_classes=benchmark.n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    strategy = SupervisedTemplate(model=model, optimizer=optimizer, train_epochs=epochs)
    for experience in benchmark.train_stream:
        strategy.train(experience)
    return strategy.eval(benchmark.test_stream).accuracy


def run_offline(
    strategy: str,
    weights: str | Path,
    output: str | Path,
    *options: str,
    parameters: Sequence[str] = (),
) -> dict:
    """``clhost run --strategy STRATEGY`` on ``textures`` with ``--model vit:...`` read
    from ``weights`` (``pretrain``'s), ``-p`` for each of ``parameters`` (``key=value``)
    and ``options``, every network connection refused; returns the run's
    ``results.json``."""
    import json
    import socket
    from unittest import mock

    from click.testing import CliRunner

    from clhost.cli import main

    sizes = ",".join(f"{key}={value}" for key, value in TINY_VIT_KWARGS.items())
    model = f"vit:model_name={TINY_VIT},{sizes},pretrained_path={weights}"
    arguments = ["run", "--strategy", strategy, "--benchmark", "textures", "--model", model]
    arguments += [argument for p in parameters for argument in ("-p", p)]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("clhost tried to reach the network")

    with mock.patch.object(socket.socket, "connect", refuse):
        result = CliRunner().invoke(main, [*arguments, "--output", str(output), *options])
    assert result.exit_code == 0, result.output
    return json.loads((Path(output) / "results.json").read_text())
