"""Finding a model's layers by name, for methods that treat one layer specially."""

from __future__ import annotations

from torch import nn

from clhost.errors import ParameterError


def named_layer(model: nn.Module, name: str, kind: type[nn.Module] = nn.Module) -> nn.Module:
    """The submodule called ``name`` (dotted, as in ``named_modules``), of type ``kind``;
    a ``ParameterError`` listing the names there are otherwise."""
    modules = dict(model.named_modules())
    if name not in modules or not isinstance(modules[name], kind):
        candidates = [n for n, m in modules.items() if n and isinstance(m, kind)]
        raise ParameterError(
            f"the model has no {kind.__name__} layer named {name!r}; it has "
            + (", ".join(repr(n) for n in candidates[:30]) or "none")
        )
    return modules[name]


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The name and module of the last ``nn.Linear`` registered in ``model`` (its
    classifier, in the usual layouts); a ``ParameterError`` if it has none."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ParameterError(f"{type(model).__name__} has no nn.Linear layer to use as classifier")
    return found[-1]
