"""The iCaRL strategy: the supervised template with iCaRL's plugin, loss and model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_icarl.model import FeatureClassifier
from clhost_icarl.plugin import ICaRLPlugin
from clhost_loss_icarl import ICaRLLossPlugin


class ICaRL(SupervisedTemplate):
    """iCaRL (Rebuffi et al., CVPR 2017); see ``ICaRLPlugin`` for the parameters.

    The model is ``feature_extractor`` followed by ``classifier`` (as in Avalanche), or a
    ``model`` with ``features`` and ``classifier`` parts such as ``SimpleMLP``. The
    criterion defaults to iCaRL's loss (``ICaRLLossPlugin``); every keyword of
    ``SupervisedTemplate`` is accepted and extra ``plugins`` run after iCaRL's.
    """

    def __init__(
        self,
        *,
        feature_extractor: nn.Module | None = None,
        classifier: nn.Module | None = None,
        memory_size: int = 200,
        buffer_transform: Callable[[Tensor], Tensor] | None = None,
        fixed_memory: bool = True,
        **kwargs: Any,
    ):
        kwargs["model"] = _icarl_model(kwargs.get("model"), feature_extractor, classifier)
        kwargs.setdefault("criterion", ICaRLLossPlugin())
        plugin = ICaRLPlugin(
            memory_size=memory_size, buffer_transform=buffer_transform, fixed_memory=fixed_memory
        )
        super().__init__(plugins=[plugin, *kwargs.pop("plugins", ())], **kwargs)


def _icarl_model(
    model: nn.Module | None, feature_extractor: nn.Module | None, classifier: nn.Module | None
) -> nn.Module:
    if model is not None:
        if feature_extractor is not None or classifier is not None:
            raise ParameterError("give either model or feature_extractor and classifier, not both")
        missing = [part for part in ("features", "classifier") if not hasattr(model, part)]
        if missing:
            raise ParameterError(
                f"iCaRL's model needs 'features' and 'classifier' parts; {type(model).__name__} "
                f"lacks {', '.join(missing)} (or pass feature_extractor= and classifier=)"
            )
        return model
    if feature_extractor is None or classifier is None:
        raise ParameterError("iCaRL needs feature_extractor and classifier (or a model)")
    for name, part in (("feature_extractor", feature_extractor), ("classifier", classifier)):
        if not isinstance(part, nn.Module):
            raise ParameterError(f"{name} must be a torch.nn.Module, got {type(part).__name__}")
    return FeatureClassifier(feature_extractor, classifier)
