"""GEM as a strategy: the supervised template with a ``GEMPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_gem.plugin import GEMPlugin


class GEM(
    SupervisedTemplate,
    plugin=GEMPlugin,
    keywords={"patterns_per_experience": "patterns_per_exp"},  # Avalanche's names
):
    """Supervised training with GEM's constrained gradient updates (``GEMPlugin``)."""
