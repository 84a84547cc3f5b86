"""The BiC strategy: the supervised template with a ``BiCPlugin`` first in line."""

from clhost.templates import SupervisedTemplate
from clhost_bic.plugin import BiCPlugin


class BiC(SupervisedTemplate, plugin=BiCPlugin):
    """BiC (Wu et al., CVPR 2019): replay with distillation, then a correction of the new
    classes' scores. The parameters are ``BiCPlugin``'s, which documents them."""
