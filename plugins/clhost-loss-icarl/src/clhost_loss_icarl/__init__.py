"""iCaRL's loss (Rebuffi et al., CVPR 2017): sigmoid BCE, old classes distilled."""

from clhost_loss_icarl.loss import ICaRLLoss, ICaRLLossPlugin, icarl_loss, icarl_targets

__all__ = ["ICaRLLoss", "ICaRLLossPlugin", "icarl_loss", "icarl_targets"]
