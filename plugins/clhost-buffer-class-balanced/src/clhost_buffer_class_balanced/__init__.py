"""A replay buffer that shares its memory equally among the classes seen."""

from clhost_buffer_class_balanced.buffer import ClassBalancedBuffer

__all__ = ["ClassBalancedBuffer"]
