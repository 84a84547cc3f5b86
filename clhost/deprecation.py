"""Old parameter names that keep working, with a warning, for one release.

clhost names a parameter as the seed or Avalanche's public API does (``patterns_per_exp``,
``storage_policy``, ``mem_size``); a parameter renamed to follow that rule keeps its old
spelling through ``@renamed(old="new")`` on the ``__init__`` that takes it. The old
names are recorded on the function (``__renamed__``), so keyword checking and the
strategies declared from a plugin accept them too.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept each ``old`` keyword as ``new``, warning with ``DeprecationWarning``."""

    def decorate(function: F) -> F:
        owner = function.__qualname__.removesuffix(".__init__")

        @functools.wraps(function)
        def accepting_old_names(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **translate(owner, old_to_new, kwargs))

        accepting_old_names.__renamed__ = {  # type: ignore[attr-defined]
            **renamed_keywords(function),
            **old_to_new,
        }
        return accepting_old_names  # type: ignore[return-value]

    return decorate


def renamed_keywords(function: Any) -> dict[str, str]:
    """The old names ``function`` still accepts, mapped to the current ones."""
    return dict(getattr(function, "__renamed__", {}))


def translate(owner: str, old_to_new: dict[str, str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with every old name replaced by its new one (a warning for each)."""
    kwargs = dict(kwargs)
    for old, new in old_to_new.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(f"{owner}() got both {new} and its old name {old}; give {new} only")
        warnings.warn(
            f"{owner}: the parameter {old} is now called {new}; the old name will be "
            "removed in the next release",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs[new] = kwargs.pop(old)
    return kwargs
