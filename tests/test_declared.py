"""Strategies declared from their plugin (``class S(SupervisedTemplate, plugin=P)``) and
parameters renamed with ``clhost.deprecation.renamed``."""

import inspect
from typing import Literal

import pytest
import torch

from clhost._params import parameters
from clhost.deprecation import renamed
from clhost.plugin import SupervisedPlugin
from clhost.templates import BuiltModelTemplate, SupervisedTemplate
from clhost.templates.declared import declare_plugin_strategy


class ScalePlugin(SupervisedPlugin):
    @renamed(factor="scale")
    def __init__(self, scale: float = 2.0, mode: Literal["a", "b"] = "a"):
        self.scale, self.mode = scale, mode


class Scale(SupervisedTemplate, plugin=ScalePlugin):
    """Declared in one line."""


class Other(SupervisedPlugin):
    pass


def template_keywords():
    model = torch.nn.Linear(2, 2)
    return dict(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_the_strategy_builds_its_plugin_first_and_passes_the_rest_up():
    extra = Other()
    strategy = Scale(scale=3.0, mode="b", plugins=[extra], train_mb_size=4, **template_keywords())
    plugin, *rest = strategy.plugins
    assert isinstance(plugin, ScalePlugin) and (plugin.scale, plugin.mode) == (3.0, "b")
    assert rest == [extra] and strategy.train_mb_size == 4


def test_the_signature_is_the_plugins_and_the_templates():
    found = parameters(Scale)
    assert found["scale"].default == 2.0 and found["mode"].annotation == Literal["a", "b"]
    assert {"model", "optimizer", "train_mb_size", "plugins"} <= set(found)
    signature = inspect.signature(Scale.__init__)
    assert signature.parameters["scale"].kind is inspect.Parameter.KEYWORD_ONLY


def test_unknown_keywords_name_the_valid_ones():
    with pytest.raises(TypeError, match="unknown keyword.*scal.*did you mean scale"):
        Scale(scal=1.0, **template_keywords())


def test_an_old_parameter_name_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="factor is now called scale"):
        plugin = ScalePlugin(factor=5.0)
    assert plugin.scale == 5.0
    with pytest.warns(DeprecationWarning):
        strategy = Scale(factor=4.0, **template_keywords())
    assert strategy.plugins[0].scale == 4.0
    with pytest.raises(TypeError, match="both scale and its old name factor"):
        ScalePlugin(scale=1.0, factor=2.0)


def test_a_strategy_with_its_own_keywords_gets_the_built_plugin():
    class Named(SupervisedTemplate, plugin=ScalePlugin):
        def __init__(self, *, label: str = "x", plugins, **kwargs):
            self.label = label
            super().__init__(plugins=plugins, **kwargs)

    strategy = Named(label="y", scale=7.0, **template_keywords())
    assert strategy.label == "y" and strategy.plugins[0].scale == 7.0
    assert {"label", "scale", "model"} <= set(parameters(Named))


def test_a_plugin_parameter_that_clashes_with_the_template_is_refused_at_definition():
    class Clashing(SupervisedPlugin):
        def __init__(self, train_epochs: int = 1):
            self.train_epochs = train_epochs

    with pytest.raises(TypeError, match="train_epochs clash"):

        class Bad(SupervisedTemplate, plugin=Clashing):
            pass


def test_a_strategy_may_name_a_plugin_parameter_as_avalanche_does():
    class Renaming(SupervisedTemplate, plugin=ScalePlugin, keywords={"scale": "scale_exp"}):
        pass

    assert "scale_exp" in parameters(Renaming) and "scale" not in parameters(Renaming)
    assert Renaming(scale_exp=9.0, **template_keywords()).plugins[0].scale == 9.0
    with pytest.warns(DeprecationWarning, match="scale is now called scale_exp"):
        assert Renaming(scale=8.0, **template_keywords()).plugins[0].scale == 8.0
    with pytest.warns(DeprecationWarning, match="factor is now called scale_exp"):
        assert Renaming(factor=7.0, **template_keywords()).plugins[0].scale == 7.0


class Centroids:
    """A part of a strategy that is not a plugin."""

    def __init__(self, k: int = 2):
        self.k = k


class PartTemplate(BuiltModelTemplate):
    def __init_subclass__(cls, part=None, defaults=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if part is not None:
            declare_plugin_strategy(cls, part, defaults=defaults, as_argument=True)

    def __init__(self, part, /, **template):
        self.part = part
        model = torch.nn.Linear(2, 2)
        super().__init__(model, torch.optim.SGD(model.parameters(), lr=0.1), **template)


class WithCentroids(PartTemplate, part=Centroids, defaults={"train_epochs": 3}):
    pass


def test_a_template_may_declare_strategies_from_a_part_it_takes_as_argument():
    strategy = WithCentroids(k=5, evaluator=None)
    assert strategy.part.k == 5 and strategy.plugins == [] and strategy.train_epochs == 3
    assert WithCentroids(train_epochs=1).train_epochs == 1
    found = parameters(WithCentroids)
    assert found["k"].default == 2 and found["train_epochs"].default == 3
    assert not {"model", "optimizer"} & set(found)
    with pytest.raises(TypeError, match="the template has no epochs"):

        class Bad(PartTemplate, part=Centroids, defaults={"epochs": 3}):
            pass
