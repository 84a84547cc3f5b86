"""When a rehearsal memory should take the incoming minibatch: once per sample."""

from __future__ import annotations

from typing import Any


def first_sight(strategy: Any) -> bool:
    """True while the strategy sees its incoming samples for the first time: the first
    epoch of an experience and the first pass over an online minibatch.

    A memory that takes the minibatch on every epoch (or pass) holds duplicates and
    counts each sample several times in its reservoir, so it would keep fewer distinct
    samples than its size and favour the current experience.
    """
    train_pass = getattr(strategy, "train_pass", None)
    if train_pass is not None:  # online: every mini-experience is new, even when the
        return train_pass == 0  # stream counts as one experience (boundaries unknown)
    clock = getattr(strategy, "clock", None)
    return getattr(clock, "train_exp_epochs", 0) == 0
