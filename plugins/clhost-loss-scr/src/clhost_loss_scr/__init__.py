"""Supervised contrastive loss (Khosla et al., 2020), the training loss of SCR."""

from clhost_loss_scr.loss import SCRLoss

__all__ = ["SCRLoss"]
