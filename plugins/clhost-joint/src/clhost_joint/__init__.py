"""Joint training for clhost: the whole stream learnt at once, the usual upper bound."""

from clhost_joint.strategy import AlreadyTrainedError, JointTraining, joint_experience

__all__ = ["AlreadyTrainedError", "JointTraining", "joint_experience"]
