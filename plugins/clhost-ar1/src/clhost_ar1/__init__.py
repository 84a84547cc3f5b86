"""AR1* with latent replay (Pellegrini et al., 2020) for clhost."""

from clhost_ar1.model import ar1_model, sequential_backbone
from clhost_ar1.plugin import AR1Plugin
from clhost_ar1.strategy import AR1

__all__ = ["AR1", "AR1Plugin", "ar1_model", "sequential_backbone"]
