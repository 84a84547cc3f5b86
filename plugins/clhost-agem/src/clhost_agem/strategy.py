"""A-GEM as a strategy: the supervised template with an ``AGEMPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_agem.plugin import AGEMPlugin


class AGEM(
    SupervisedTemplate,
    plugin=AGEMPlugin,
    keywords={"patterns_per_experience": "patterns_per_exp"},  # Avalanche's names
):
    """Supervised training with A-GEM's gradient projection (``AGEMPlugin``)."""
