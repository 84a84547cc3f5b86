"""LFL as a strategy: the supervised template with an ``LFLPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_lfl.plugin import LFLPlugin


class LFL(SupervisedTemplate, plugin=LFLPlugin):
    """Less-Forgetful Learning (Jung et al., 2016): supervised training that keeps the
    features close to the previous model's and freezes the units of learnt classes. The
    parameters are ``LFLPlugin``'s, which documents them."""
