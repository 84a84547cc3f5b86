"""GDumb as a strategy: the supervised template with a ``GDumbPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_gdumb.plugin import GDumbPlugin


class GDumb(SupervisedTemplate, plugin=GDumbPlugin):
    """GDumb (Prabhu, Torr & Dokania, 2020): a fresh model trained on a class-balanced
    memory alone before each experience. The parameters are ``GDumbPlugin``'s, which
    documents them."""
