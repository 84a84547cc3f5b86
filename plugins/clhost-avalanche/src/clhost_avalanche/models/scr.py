"""Avalanche's ``SCRModel``: clhost-scr's, with the projection head on the normalised
features as Avalanche feeds it."""

from __future__ import annotations

from typing import Any

from torch import nn

from clhost_avalanche._exports import resolve


def SCRModel(feature_extractor: nn.Module, projection: nn.Module) -> Any:  # noqa: N802
    """clhost's ``SCRModel`` with ``normalize_before_projection=True`` (Avalanche's).
    clhost also normalises the projection's output, as the paper; Avalanche leaves that
    to the head (its examples end it with ``L2Normalization``), so a head that does not
    normalise trains differently here."""
    native = resolve("clhost_scr.model:SCRModel")
    return native(feature_extractor, projection, normalize_before_projection=True)
