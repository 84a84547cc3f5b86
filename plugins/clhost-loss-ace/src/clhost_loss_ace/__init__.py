"""Asymmetric cross-entropy (Caccia et al., 2022), the loss of ER-ACE."""

from clhost_loss_ace.loss import ACECriterion, present_units, restrict_logits

__all__ = ["ACECriterion", "present_units", "restrict_logits"]
