"""Naive finetuning for clhost: the baseline every continual-learning method must beat."""

from clhost_naive.strategy import Naive

__all__ = ["Naive"]
