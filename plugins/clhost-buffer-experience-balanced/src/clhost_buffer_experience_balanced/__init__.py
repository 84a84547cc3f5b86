"""A replay buffer that shares its memory equally among the experiences seen."""

from clhost_buffer_experience_balanced.buffer import ExperienceBalancedBuffer

__all__ = ["ExperienceBalancedBuffer"]
