"""timm backbones, built by model name and loaded only from local weights.

Nothing here downloads: the Hugging Face hub is switched to offline mode before timm is
imported, and pretrained weights come from the file or folder the user names, read by
timm's own loader (``pretrained_cfg_overlay``), which also adapts the checkpoint to the
model (position embeddings resampled for another image size, classifier dropped).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from clhost.errors import ParameterError

os.environ["HF_HUB_OFFLINE"] = "1"  # read by huggingface_hub when it is first imported

import timm  # noqa: E402  (after the offline switch)
from timm.models import _builder  # noqa: E402  (where timm reports keys it did not load)

DEFAULT_MODEL_NAME = "vit_base_patch16_224"  # ViT-B/16, the backbone of the papers
WEIGHTS_HINT = (
    "pretrained weights are read from a local file or folder only (clhost never downloads): "
    "pass pretrained_path=PATH (a .safetensors/.pth/.bin file, or a folder holding "
    "model.safetensors or pytorch_model.bin), or pretrained=False for random weights"
)
_MISSING = re.compile(r"Missing keys \((.*?)\) discovered")


def _offline() -> None:
    """Keep huggingface_hub offline even if it was imported before this module."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - timm installs it
        return
    constants.HF_HUB_OFFLINE = True


def create_backbone(
    model_name: str,
    *,
    pretrained: bool = False,
    pretrained_path: str | os.PathLike[str] | None = None,
    **model_kwargs: Any,
) -> nn.Module:
    """The timm model ``model_name`` without its classifier (``num_classes=0``: its output
    is the pre-logits feature), its weights read from ``pretrained_path`` when
    ``pretrained``. ``model_kwargs`` go to ``timm.create_model`` (``img_size``,
    ``patch_size``, ``depth``, ``embed_dim``, ``num_heads``, ``drop_rate`` ...)."""
    _offline()
    if not isinstance(model_name, str) or not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name}*")[:5] if isinstance(model_name, str) else []
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ParameterError(f"model_name {model_name!r} is not a timm model{hint}")
    kwargs: dict[str, Any] = {"num_classes": 0, **model_kwargs}
    if pretrained:
        kwargs["pretrained_cfg_overlay"] = _local_weights(pretrained_path)
    elif pretrained_path is not None:
        raise ParameterError("pretrained_path is given but pretrained=False: say pretrained=True")
    where = f" from {pretrained_path}" if pretrained else ""
    try:
        with _missing_keys() as missing:
            model = timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except (RuntimeError, KeyError, TypeError) as error:  # a checkpoint of another model
        raise ParameterError(f"cannot build {model_name!r}{where}: {error}") from error
    head = model.pretrained_cfg.get("classifier") or "head"
    heads = (head,) if isinstance(head, str) else tuple(head)
    missed = [key for key in missing if not key.startswith(heads)]  # a new head is expected
    if missed:
        raise ParameterError(
            f"the weights{where} do not fit {model_name!r}: they lack {', '.join(missed)}"
        )
    return model


@contextmanager
def _missing_keys() -> Iterator[list[str]]:
    """timm loads a checkpoint into a model with another head non-strictly and only logs
    the keys it missed; collect them, so weights of another architecture are refused."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            report = _MISSING.match(record.getMessage())
            if report:
                found.extend(report.group(1).split(", "))

    logger, handler = logging.getLogger(_builder.__name__), Collect(logging.INFO)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _local_weights(pretrained_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """timm's pretrained configuration pointed at the local ``pretrained_path`` only."""
    if pretrained_path is None:
        raise ParameterError(f"pretrained=True needs pretrained_path: {WEIGHTS_HINT}")
    path = Path(pretrained_path).expanduser()
    if not path.exists():
        raise ParameterError(f"pretrained_path {str(path)!r} does not exist: {WEIGHTS_HINT}")
    # no url or hub id left for timm to fall back on; a folder is read by timm's loader
    source = "local-dir" if path.is_dir() else "file"
    return {"file": str(path), "source": source, "url": "", "hf_hub_id": ""}


def features(backbone: nn.Module, x: Tensor) -> Tensor:
    """The pre-logits feature of ``x`` (a timm model's pooled, normed token; any other
    module's flattened output)."""
    if hasattr(backbone, "forward_head") and hasattr(backbone, "forward_features"):
        return backbone.forward_head(backbone.forward_features(x), pre_logits=True)
    return backbone(x).flatten(1)


def query(backbone: nn.Module, x: Tensor) -> Tensor:
    """``features`` of ``x`` without gradients and in eval mode (no dropout), whatever
    the backbone's mode, which is restored: the query of the prompt-based methods."""
    training = backbone.training
    try:
        with torch.no_grad():
            return features(backbone.eval(), x)
    finally:
        backbone.train(training)


def freeze(backbone: nn.Module) -> nn.Module:
    """No gradients and eval mode (dropout off, normalisation statistics fixed)."""
    backbone.requires_grad_(False)
    return backbone.eval()


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when ``enabled``; nothing otherwise."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def prepare_input(x: Tensor, channels_last: bool) -> Tensor:
    """``x`` in channels-last memory format when asked and it is a batch of images."""
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
