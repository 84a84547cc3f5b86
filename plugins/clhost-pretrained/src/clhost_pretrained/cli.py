"""``clhost run --model vit:...``: the timm backbone the pretrained-model strategies offer
the command line (their ``models`` class attribute)."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn

from clhost.errors import ParameterError
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
) -> nn.Module:
    """The timm model ``model_name`` (weights from the local ``pretrained_path``), with a
    head of ``num_classes`` (none: 0) and any of timm's ``img_size``, ``patch_size``,
    ``depth``, ``embed_dim``, ``num_heads`` changed. ``clhost run`` fills ``num_classes``
    and ``in_channels`` (image benchmarks) or ``input_size`` (flat ones) from the
    benchmark: flat inputs of a square size are viewed as one-channel square images."""
    side = None
    if in_channels is None and input_size is not None:
        side = math.isqrt(input_size)
        if side * side != input_size:
            raise ParameterError(f"flat inputs of size {input_size} are no square image")
        in_channels, img_size = 1, img_size or side
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
    if side is not None:
        model.patch_embed.register_forward_pre_hook(_as_images(side))
    return model


def _as_images(side: int) -> Callable[[nn.Module, tuple[Tensor, ...]], tuple[Tensor, ...]]:
    """A forward pre-hook of the patch embedding viewing flat inputs as images."""

    def view(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x = args[0]
        return (x.view(len(x), 1, side, side), *args[1:]) if x.dim() == 2 else args

    return view
