"""Strategies declared from their plugin, so a method is written once, in its plugin.

``class EWC(SupervisedTemplate, plugin=EWCPlugin)`` is the whole strategy: its
constructor takes the plugin's parameters and every keyword of the template, builds the
plugin from the former, puts it first among ``plugins`` and passes the rest up. The
signature is the real one (``clhost info``, the CLI and keyword checking read it), and
old parameter names the plugin still accepts (``clhost.deprecation.renamed``) work too.

Where Avalanche's strategy names a plugin parameter differently from its plugin (AGEM's
``patterns_per_exp`` for ``AGEMPlugin``'s ``patterns_per_experience``), ``keywords``
maps the plugin's names to the strategy's: ``plugin=AGEMPlugin,
keywords={"patterns_per_experience": "patterns_per_exp"}``; the plugin's spelling then
still works on the strategy, with a ``DeprecationWarning``.

A strategy that must do more (build its model, default its criterion) defines
``__init__(self, *, own_keyword=..., plugins, **kwargs)``: it receives the built plugin
first in ``plugins`` and its own keywords, and calls ``super().__init__``.

A template may declare its strategies from another part the same way (the frozen-feature
template from a classifier): with ``as_argument`` the built object is the first
positional argument of the next constructor instead of a plugin, and ``defaults`` gives
template keywords the defaults this strategy changes (shown in its signature).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from clhost._keywords import accepted_keywords
from clhost._params import Param, parameters
from clhost.deprecation import renamed_keywords, translate


def declare_plugin_strategy(
    cls: type[Any],
    plugin_class: type[Any],
    keywords: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    as_argument: bool = False,
) -> None:
    """Give ``cls`` a constructor that builds ``plugin_class`` from its keywords
    (``keywords``: plugin parameter -> the strategy's name for it), first among
    ``plugins`` or, ``as_argument``, as the next constructor's first argument;
    ``defaults``: template keyword -> the default ``cls`` gives it."""
    own_init = vars(cls).get("__init__")
    to_strategy = dict(keywords or {})
    defaults = dict(defaults or {})
    plugin_params = parameters(plugin_class)
    template_params = parameters(cls.__mro__[1]) if defaults else {}
    unknown = sorted(set(to_strategy) - set(plugin_params))
    if unknown:
        raise TypeError(f"{cls.__qualname__}: {plugin_class.__name__} has no {', '.join(unknown)}")
    unknown = sorted(set(defaults) - set(template_params))
    if unknown:
        raise TypeError(f"{cls.__qualname__}: the template has no {', '.join(unknown)}")
    to_plugin = {new: old for old, new in to_strategy.items()}
    params = {
        to_strategy.get(name, name): replace(param, name=to_strategy.get(name, name))
        for name, param in plugin_params.items()
    }
    old_names = {
        **{
            old: to_strategy.get(new, new)
            for old, new in renamed_keywords(plugin_class.__init__).items()
        },
        **to_strategy,
    }
    own_params = {
        name: param
        for name, param in (parameters(own_init) if own_init else {}).items()
        if name != "plugins"
    }
    _refuse_clashes(cls, plugin_class, params, own_params)
    changed = [replace(template_params[name], default=value) for name, value in defaults.items()]

    def __init__(self: Any, **kwargs: Any) -> None:
        kwargs = {**defaults, **translate(cls.__qualname__, old_names, kwargs)}
        options = {to_plugin.get(n, n): kwargs.pop(n) for n in list(kwargs) if n in params}
        built = plugin_class(**options)
        if as_argument:
            args: tuple[Any, ...] = (built,)
        else:
            args, kwargs["plugins"] = (), [built, *kwargs.get("plugins", ())]
        if own_init is not None:
            own_init(self, *args, **kwargs)
        else:
            super(cls, self).__init__(*args, **kwargs)

    declared = [*params.values(), *own_params.values(), *changed]
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(_keyword_only(param) for param in declared),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation=Any),
        ]
    )
    __init__.__annotations__ = {p.name: p.annotation for p in declared if p.annotated}
    __init__.__renamed__ = old_names  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = f"Build {plugin_class.__name__} from its keywords; see its docstring."
    cls.__init__ = __init__
    if not as_argument:
        cls.plugin_class = plugin_class


def _keyword_only(param: Param) -> inspect.Parameter:
    return inspect.Parameter(
        param.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=param.default,
        annotation=param.annotation,
    )


def _refuse_clashes(
    cls: type, plugin_class: type, plugin_params: dict[str, Param], own: dict[str, Param]
) -> None:
    """A keyword the plugin shares with the template (or the strategy's own) would be
    ambiguous: refuse it when the class is defined, not when a user trips on it."""
    template = accepted_keywords(cls.__mro__[1])
    clashes = sorted(set(plugin_params) & (template | set(own)))
    if clashes:
        raise TypeError(
            f"{cls.__qualname__}: {plugin_class.__name__}'s parameter(s) {', '.join(clashes)} "
            "clash with keywords of the template or the strategy; rename them"
        )
