"""Time per epoch of the methods on a pretrained ViT, on Split CIFAR-100 at the ViT's
input size (L2P, DualPrompt, CODA-Prompt, SimpleCIL, RanPAC).

One epoch is one experience of Split CIFAR-100 in 10 experiences: 5,000 training images
of 10 classes. The images stay as CIFAR keeps them, 3 x 32 x 32 uint8 in host memory
(``--cifar-root``: the real files, read by clhost-vision; otherwise random images of
that size), and each minibatch is resized to ``--img-size`` and normalised on the device
by the strategies' ``resize_inputs`` option (``clhost_pretrained.inputs``), as a real
run does; ``--host-size 224`` keeps 224 x 224 images on the host instead (no resizing).
The weights are random, which changes no timing. Each method trains on that experience
once to warm up, then ``--repeats`` times on a fresh strategy; the median wall time is
reported (CUDA synchronised), with images per second. ``--bf16`` and
``--channels-last`` turn on the strategies' options; ``--adapt-epochs`` is RanPAC's
Phase 1 (0 by default here: the timing of its closed form; Phase 1 costs about that
many epochs of the backbone's forward and backward passes, once).

Run: ``python benchmarks/pretrained_speed.py --device cuda [--bf16] [--channels-last]
[--model-name vit_base_patch16_224] [--methods l2p,dualprompt] [--images 5000]
[--cifar-root data]``. On a CPU, try ``--model-name vit_tiny_patch16_224 --images 64
--repeats 1``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from clhost.benchmarks import class_incremental
from clhost.data import TensorData
from clhost_coda_prompt import CODAPrompt
from clhost_dualprompt import DualPrompt
from clhost_l2p import LearningToPrompt
from clhost_pretrained import create_backbone
from clhost_ranpac import RanPAC
from clhost_simplecil import SimpleCIL

CLASSES, PER_EXPERIENCE = 100, 10


def build(method: str, args: argparse.Namespace) -> Any:
    options: dict[str, Any] = dict(
        model=create_backbone(args.model_name, img_size=args.img_size),
        resize_inputs=True,  # each minibatch resized and normalised on the device
        bf16=args.bf16,
        channels_last=args.channels_last,
        train_mb_size=args.batch_size,
        device=args.device,
        evaluator=None,
    )
    if method == "l2p":  # the paper's settings on Split CIFAR-100
        return LearningToPrompt(num_classes=CLASSES, pool_size=10, top_k=5, **options)
    if method == "dualprompt":
        return DualPrompt(num_classes=CLASSES, **options)
    if method == "coda-prompt":
        return CODAPrompt(num_classes=CLASSES, **options)
    if method == "ranpac":
        return RanPAC(adapt_epochs=args.adapt_epochs, **options)
    return SimpleCIL(**options)


def first_experience(args: argparse.Namespace) -> Any:
    """Split CIFAR-100's first experience from ``--cifar-root`` (unnormalised floats in
    [0, 1]), else ``--images`` random uint8 images of ``--host-size``, on the host."""
    if args.cifar_root:
        from clhost_vision import split_cifar100

        benchmark = split_cifar100(CLASSES // PER_EXPERIENCE, root=args.cifar_root, normalize=False)
        return benchmark.train_stream[0]
    torch.manual_seed(0)
    size = (args.images, 3, args.host_size, args.host_size)
    x = torch.randint(256, size, dtype=torch.uint8)
    data = TensorData(x, torch.arange(args.images) % PER_EXPERIENCE)
    return class_incremental(data, data, 1).train_stream[0]


def seconds(run: Callable[[], None], device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model-name", default="vit_base_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--host-size", type=int, default=32)
    parser.add_argument("--cifar-root", default=None)
    parser.add_argument("--adapt-epochs", type=int, default=0)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="l2p,dualprompt,coda-prompt,simplecil,ranpac")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    experience = first_experience(args)
    print(
        f"{args.model_name} at {args.img_size}x{args.img_size} from "
        f"{tuple(experience.dataset.x.shape[1:])} {experience.dataset.x.dtype} on the host, "
        f"{len(experience.dataset.y)} images, "
        f"minibatch {args.batch_size}, {args.device}, bf16={args.bf16}, "
        f"channels_last={args.channels_last}"
    )
    for method in args.methods.split(","):
        times = []
        for repeat in range(args.repeats + 1):
            strategy = build(method, args)
            elapsed = seconds(lambda s=strategy: s.train(experience), args.device)
            if repeat:  # the first run warms up
                times.append(elapsed)
        median = statistics.median(times)
        images = len(experience.dataset.y)
        print(f"{method:10s} {median:8.2f} s per epoch  {images / median:8.0f} images/s")


if __name__ == "__main__":
    main()
