"""Naive: the supervised template with nothing added against forgetting."""

from __future__ import annotations

from clhost.templates import SupervisedTemplate


class Naive(SupervisedTemplate):
    """Finetune on each experience in turn with plain minibatch SGD (Avalanche's ``Naive``).

    Nothing protects what earlier experiences taught, so on class-incremental streams the
    model forgets them almost completely (catastrophic forgetting, McCloskey and Cohen,
    1989): this is the lower bound that continual-learning methods are measured against.
    Every keyword of ``SupervisedTemplate`` is accepted; extra ``plugins`` run as given.
    """
