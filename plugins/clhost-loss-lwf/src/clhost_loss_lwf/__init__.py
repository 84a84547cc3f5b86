"""Learning without Forgetting (Li & Hoiem, 2017) as a composable loss term."""

from clhost_loss_lwf.loss import LearningWithoutForgetting, distillation_loss

__all__ = ["LearningWithoutForgetting", "distillation_loss"]
