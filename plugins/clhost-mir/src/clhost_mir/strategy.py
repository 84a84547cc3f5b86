"""MIR as a strategy: the supervised template with an ``MIRPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_mir.plugin import MIRPlugin


class MIR(SupervisedTemplate, plugin=MIRPlugin):
    """Maximally Interfered Retrieval: supervised training replaying the memory samples a
    virtual update would hurt most. The parameters are ``MIRPlugin``'s, which documents
    them. For the online setting, add ``MIRPlugin`` to an ``OnlineSupervisedTemplate``."""
