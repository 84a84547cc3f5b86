"""``clhost run --model vit:...``: the timm backbone the pretrained-model strategies offer
the command line (their ``models`` class attribute)."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from clhost.errors import ParameterError
from clhost.validate import boolean
from clhost_pretrained import inputs
from clhost_pretrained.backbone import DEFAULT_MODEL_NAME, create_backbone


def vit(
    model_name: str = DEFAULT_MODEL_NAME,
    pretrained: bool = True,
    pretrained_path: str | None = None,
    num_classes: int = 0,
    img_size: int | None = None,
    patch_size: int | None = None,
    depth: int | None = None,
    embed_dim: int | None = None,
    num_heads: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    resize_inputs: bool = False,
) -> nn.Module:
    """The timm model ``model_name`` (weights from the local ``pretrained_path``), with a
    head of ``num_classes`` (none: 0) and any of timm's ``img_size``, ``patch_size``,
    ``depth``, ``embed_dim``, ``num_heads`` changed. ``clhost run`` fills ``num_classes``,
    ``input_size`` and, for image benchmarks, ``in_channels`` from the benchmark: the
    image size is then that of its square images, and flat inputs of a square size are
    viewed as one-channel square images. With ``resize_inputs`` the model keeps the input
    size and channels it was built for (``img_size`` if given) and resizes and normalises
    each batch on its device (``clhost_pretrained.inputs``; images in [0, 1] or uint8)."""
    resize_inputs = boolean("resize_inputs", resize_inputs)
    side = None if input_size is None else _side(input_size, in_channels or 1)
    flat = side if in_channels is None else None  # the side of flat inputs' images
    if resize_inputs:  # the model's own size and channels; a grey image is repeated
        in_channels = None
    elif side is not None:
        img_size, in_channels = img_size or side, in_channels or 1
    given = {
        "img_size": img_size,
        "patch_size": patch_size,
        "depth": depth,
        "embed_dim": embed_dim,
        "num_heads": num_heads,
        "in_chans": in_channels,
    }
    model = create_backbone(
        model_name,
        pretrained=pretrained,
        pretrained_path=pretrained_path,
        num_classes=num_classes,
        **{key: value for key, value in given.items() if value is not None},
    )
    if flat is not None:
        model.patch_embed.register_forward_pre_hook(_as_images(flat))
    if resize_inputs:
        inputs.resize_inputs(model)
    return model


def small_vit(
    num_classes: int = 0, in_channels: int | None = None, input_size: int | None = None
) -> nn.Module:
    """What ``clhost run`` builds for these strategies without ``--model``: a small ViT
    with random weights (depth 6, width 64, 2 heads, a 4x4 grid of patches where the image
    allows), sized from the benchmark, to try a strategy offline. A random backbone is no
    pretrained one: for results, give ``--model vit:...,pretrained_path=...``."""
    side = _side(input_size, in_channels or 1) if input_size is not None else 224
    patch = next(p for p in range(max(side // 4, 1), 0, -1) if side % p == 0)
    return vit(
        model_name="vit_tiny_patch16_224",
        pretrained=False,
        num_classes=num_classes,
        patch_size=patch,
        depth=6,
        embed_dim=64,
        num_heads=2,
        in_channels=in_channels,
        input_size=input_size,
    )


def _side(input_size: int, channels: int) -> int:
    """The side of the square images of ``channels`` channels and ``input_size`` values."""
    side = math.isqrt(input_size // channels)
    if side * side * channels != input_size:
        raise ParameterError(
            f"inputs of size {input_size} are no square image of {channels} channel(s)"
        )
    return side


def _as_images(side: int) -> Callable[[nn.Module, tuple[Tensor, ...]], tuple[Tensor, ...]]:
    """A forward pre-hook of the patch embedding viewing flat inputs as images."""

    def view(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x = args[0]
        return (x.view(len(x), 1, side, side), *args[1:]) if x.dim() == 2 else args

    return view
