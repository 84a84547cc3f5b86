"""The DER strategy: a supervised template with the DER plugin."""

from clhost.templates import SupervisedTemplate
from clhost_der.plugin import DERPlugin


class DER(SupervisedTemplate, plugin=DERPlugin):
    """DER (``beta=0``) or DER++ (``beta>0``, the default): supervised training that
    replays stored samples with the logits they had. The parameters are ``DERPlugin``'s,
    which documents them."""
