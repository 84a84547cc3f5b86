"""Time per epoch of the methods on a pretrained ViT, at Split CIFAR-100's size (L2P,
DualPrompt, CODA-Prompt, SimpleCIL, RanPAC).

One epoch is one experience of Split CIFAR-100 in 10 experiences: 5,000 training images
of 10 classes, here random 3 x 224 x 224 tensors already on the device (the time of the
methods, not of a data pipeline; the weights are random too, which changes no timing).
Each method trains on that experience once to warm up, then ``--repeats`` times on a
fresh strategy; the median wall time is reported (CUDA synchronised), with images per
second. ``--bf16`` and ``--channels-last`` turn on the strategies' options.

Run: ``python benchmarks/pretrained_speed.py --device cuda [--bf16] [--channels-last]
[--model-name vit_base_patch16_224] [--methods l2p,dualprompt] [--images 5000]``.
On a CPU, try ``--model-name vit_tiny_patch16_224 --images 64 --repeats 1``.
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
        return RanPAC(**options)
    return SimpleCIL(**options)


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
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="l2p,dualprompt,coda-prompt,simplecil,ranpac")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.images, 3, args.img_size, args.img_size, device=args.device)
    y = torch.arange(args.images, device=args.device) % PER_EXPERIENCE
    data = TensorData(x, y)
    experience = class_incremental(data, data, 1).train_stream[0]
    print(
        f"{args.model_name} at {args.img_size}x{args.img_size}, {args.images} images, "
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
        print(f"{method:10s} {median:8.2f} s per epoch  {args.images / median:8.0f} images/s")


if __name__ == "__main__":
    main()
