"""``avalanche.training.storage_policy``: clhost's buffers and selection strategies, which
take Avalanche's constructor arguments (``max_size``, ``adaptive_size``, ...)."""

from __future__ import annotations

from clhost_avalanche._exports import lazy_module

EXPORTS = {
    "ExemplarsBuffer": "clhost.rehearsal:ExemplarsBuffer",
    "BalancedExemplarsBuffer": "clhost.rehearsal:BalancedExemplarsBuffer",
    "ExemplarsSelectionStrategy": "clhost.rehearsal:ExemplarsSelectionStrategy",
    "FeatureBasedExemplarsSelectionStrategy": (
        "clhost.rehearsal:FeatureBasedExemplarsSelectionStrategy"
    ),
    "ReservoirSamplingBuffer": "clhost_buffer_reservoir:ReservoirSamplingBuffer",
    "ExperienceBalancedBuffer": "clhost_buffer_experience_balanced:ExperienceBalancedBuffer",
    "ClassBalancedBuffer": "clhost_buffer_class_balanced:ClassBalancedBuffer",
    "ParametricBuffer": "clhost_buffer_parametric:ParametricBuffer",
    "RandomExemplarsSelectionStrategy": "clhost_selection_random:RandomExemplarsSelectionStrategy",
    "HerdingSelectionStrategy": "clhost_selection_herding:HerdingSelectionStrategy",
    "ClosestToCenterSelectionStrategy": (
        "clhost_selection_closest_to_center:ClosestToCenterSelectionStrategy"
    ),
}
__getattr__, __dir__ = lazy_module(globals(), EXPORTS)
__all__ = list(EXPORTS)
