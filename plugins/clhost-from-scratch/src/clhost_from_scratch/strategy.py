"""FromScratchTraining as a strategy: the supervised template with the reset plugin first."""

from clhost.templates import SupervisedTemplate
from clhost_from_scratch.plugin import FromScratchTrainingPlugin


class FromScratchTraining(SupervisedTemplate, plugin=FromScratchTrainingPlugin):
    """Train each experience from the initial weights; the parameters are
    ``FromScratchTrainingPlugin``'s, which documents them."""
