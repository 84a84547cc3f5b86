"""The catalogue page of the documentation site, generated from what is installed.

Every distribution that registers clhost entry points gets a section: its version, its
one-line description and the first paragraph of its README (the method and the paper),
then each entry point with its parameters and defaults (read as ``clhost info`` reads
them) and the hooks it implements. Nothing here is written by hand, so the page cannot
drift from the code; ``site_hooks.py`` renders it at every build.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

import importlib_metadata

from clhost import registry
from clhost._params import Param, parameters
from clhost.cli._hooks import implemented_hooks
from clhost.errors import PluginLoadError

# [text](target) where target is a path relative to the README's folder in a repository:
# meaningless on this site, so only the text is kept (absolute URLs stay links)
_RELATIVE_LINK = re.compile(r"\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:)[^)]*\)", re.I)


@dataclass
class Component:
    """One entry point: its parameters (less the keywords it passes up to a host
    template: those are named by template), the hooks it implements (a strategy declared
    from its plugin: the plugin's), or why it could not be loaded."""

    entry: registry.Entry
    summary: str = ""
    parameters: list[Param] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)  # whose keywords it passes up
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Distribution:
    """One installed distribution and the components it registers."""

    name: str
    version: str
    description: str
    about: str
    components: list[Component] = field(default_factory=list)


def catalogue() -> list[Distribution]:
    """Every visible distribution with clhost entry points, sorted by name."""
    found: dict[str, Distribution] = {}
    for entry in registry.list_entries():
        if entry.distribution not in found:
            found[entry.distribution] = _distribution(entry)
        found[entry.distribution].components.append(_component(entry))
    return sorted(found.values(), key=lambda d: (d.name != registry.HOST_DISTRIBUTION, d.name))


def _distribution(entry: registry.Entry) -> Distribution:
    metadata = importlib_metadata.distribution(entry.distribution).metadata
    return Distribution(
        name=entry.distribution,
        version=entry.version,
        description=metadata.get("Summary") or "",
        about=readme_paragraph(metadata.get("Description") or ""),
    )


def _component(entry: registry.Entry) -> Component:
    try:
        loaded = entry.load()
    except PluginLoadError as error:
        return Component(entry, error=error.error)
    component = Component(entry, summary=first_paragraph(inspect.getdoc(loaded) or ""))
    for param in parameters(loaded).values() if callable(loaded) else ():
        template = _host_template(loaded, param.owner)
        if template is None:
            component.parameters.append(param)
        elif template not in component.templates:
            component.templates.append(template)
    # a strategy declared from its plugin (``plugin=``) uses that plugin's hooks
    component.hooks = [name for name, _ in implemented_hooks(_hook_owner(loaded))]
    return component


def _hook_owner(loaded: object) -> object:
    return getattr(loaded, "plugin_class", None) or loaded


def _host_template(loaded: object, owner: str) -> str | None:
    """``module.Class`` of the base of ``loaded`` named ``owner`` if it is a host template
    (a strategy passes its template's keywords up), else ``None``."""
    from clhost.templates import BaseTemplate

    for klass in getattr(loaded, "__mro__", ()):
        if klass.__qualname__ == owner and issubclass(klass, BaseTemplate):
            if klass.__module__.startswith(f"{registry.HOST_DISTRIBUTION}."):
                return f"{klass.__module__}.{klass.__qualname__}"
    return None


def first_paragraph(text: str) -> str:
    """The first paragraph of a Markdown text or docstring, after its first heading (if it
    starts with one), joined into one line."""
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    paragraph: list[str] = []
    for line in lines:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            break
    return " ".join(paragraph)


def readme_paragraph(readme: str) -> str:
    """The first paragraph of a README, its links to repository paths reduced to text."""
    return _RELATIVE_LINK.sub(r"\1", first_paragraph(readme))


def render(distributions: list[Distribution]) -> str:
    """The catalogue as a Markdown page."""
    lines = [
        "# Catalogue",
        "",
        "Every distribution installed when this site was built that registers clhost",
        "components, read from its entry points, its metadata and its README (the same",
        "facts `clhost list` and `clhost info` show).",
        "",
        "| distribution | version | provides |",
        "|---|---|---|",
    ]
    for dist in distributions:
        provides = ", ".join(f"{c.entry.kind} `{c.entry.name}`" for c in dist.components)
        lines.append(f"| [{dist.name}](#{dist.name}) | {dist.version} | {provides} |")
    for dist in distributions:
        lines += ["", f"## {dist.name} {{#{dist.name}}}", "", f"Version {dist.version}."]
        if dist.description:
            lines += ["", f"*{dist.description}*"]
        if dist.about:
            lines += ["", dist.about]
        for component in dist.components:
            lines += ["", *_render_component(component)]
    return "\n".join(lines) + "\n"


def _render_component(component: Component) -> list[str]:
    entry = component.entry
    lines = [f"### {entry.kind} `{entry.name}` {{#{entry.kind}-{entry.name}}}", ""]
    lines.append(f"`{entry.value}` in the group `{entry.group}`.")
    if component.error is not None:
        return [*lines, "", f'!!! failure "Cannot be loaded"\n    `{component.error}`']
    if component.summary:
        lines += ["", component.summary]
    if component.parameters:
        lines += ["", "Parameters:", ""]
        lines += [f"- `{param.describe()}`" for param in component.parameters]
    elif not component.templates:
        lines += ["", "Parameters: none."]
    if component.templates:
        templates = ", ".join(
            f"[`{path.rsplit('.', 1)[-1]}`][{path}]" for path in component.templates
        )
        also = "Also" if component.parameters else "Parameters:"
        lines += ["", f"{also} every keyword of the template {templates}."]
    if component.hooks:
        lines += ["", "Hooks, in the order the loop fires them: "]
        lines[-1] += ", ".join(f"`{hook}`" for hook in component.hooks) + "."
    return lines
