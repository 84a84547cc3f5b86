"""A replay buffer that shares its memory equally among the classes seen."""

from clhost_buffer_class_balanced.class_balanced import ClassBalancedBuffer

__all__ = ["ClassBalancedBuffer"]
