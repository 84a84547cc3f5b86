"""Declared composition rules: components that cannot work together are refused with why."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from clhost.capabilities import (
    PROJECTION_HEAD,
    REHEARSAL,
    TRAINING_DATA,
    WHOLE_STREAM,
    Capabilities,
    capabilities_of,
    check_composition,
)
from clhost.errors import PluginCompositionError
from clhost.models import SimpleMLP
from clhost.plugin import SupervisedPlugin
from clhost.templates import SupervisedTemplate


class OwnsData(SupervisedPlugin):
    capabilities = Capabilities(
        provides={TRAINING_DATA}, conflicts={TRAINING_DATA: "it trains on its own data"}
    )


class Rehearses(SupervisedPlugin):
    capabilities = Capabilities(provides={REHEARSAL})


class NeedsHead:
    capabilities = Capabilities(requires={PROJECTION_HEAD: "it compares embeddings"})

    def __call__(self, output, target):
        return output.sum() * 0


class HeadedMLP(SimpleMLP):
    capabilities = Capabilities(provides={PROJECTION_HEAD})


class WholeStream(SupervisedTemplate):
    trains_on_whole_stream = True
    capabilities = Capabilities(conflicts={REHEARSAL: "there is no past to rehearse"})


def strategy(cls=SupervisedTemplate, model=None, **kwargs):
    model = model or SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(8,))
    return cls(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_two_components_claiming_the_same_role_are_refused_naming_both_and_why():
    with pytest.raises(PluginCompositionError) as error:
        strategy(plugins=[OwnsData(), OwnsData()])
    assert str(error.value) == (
        "OwnsData and OwnsData cannot work together: OwnsData replaces the data each "
        "experience trains on, and it trains on its own data"
    )


def test_a_conflict_is_found_whichever_side_declares_it_and_in_any_order():
    for plugins in ([Rehearses()], [Rehearses(), SupervisedPlugin()]):
        with pytest.raises(PluginCompositionError, match="there is no past to rehearse"):
            strategy(WholeStream, plugins=plugins)
    strategy(WholeStream)  # alone it is fine
    strategy(plugins=[OwnsData(), Rehearses()])  # no declared conflict between these


def test_trains_on_whole_stream_provides_whole_stream():
    assert WHOLE_STREAM in capabilities_of(strategy(WholeStream)).provides
    assert capabilities_of(object()) == Capabilities()


def test_a_requirement_is_met_by_a_model_module_or_refused():
    with pytest.raises(PluginCompositionError) as error:
        strategy(criterion=NeedsHead())
    assert str(error.value) == (
        "criterion NeedsHead needs a component that has a projection head giving normalised "
        "embeddings: it compares embeddings"
    )
    headed = HeadedMLP(num_classes=4, input_size=8, hidden_sizes=(8,))
    strategy(model=nn.Sequential(headed), criterion=NeedsHead())  # a submodule provides it


def test_check_composition_takes_any_labelled_components():
    check_composition([("a", Rehearses()), ("b", Rehearses())])
    with pytest.raises(PluginCompositionError, match="^x and y cannot work together: y "):
        check_composition([("x", OwnsData()), ("y", OwnsData())])


# -- the first-party declarations --------------------------------------------------------


def test_gdumb_with_cumulative_is_refused():
    from clhost_cumulative import Cumulative, CumulativePlugin
    from clhost_gdumb import GDumb, GDumbPlugin

    with pytest.raises(PluginCompositionError, match="GDumbPlugin and CumulativePlugin"):
        strategy(GDumb, plugins=[CumulativePlugin()])
    with pytest.raises(PluginCompositionError, match="CumulativePlugin and GDumbPlugin"):
        strategy(Cumulative, plugins=[GDumbPlugin()])


@pytest.mark.parametrize(
    "plugin",
    [
        "clhost_replay:ReplayPlugin",
        "clhost_der:DERPlugin",
        "clhost_gdumb:GDumbPlugin",
        "clhost_cumulative:CumulativePlugin",
    ],
)
def test_joint_training_with_rehearsal_or_replaced_data_is_refused(plugin):
    import importlib

    from clhost_joint import JointTraining

    module, name = plugin.split(":")
    component = getattr(importlib.import_module(module), name)()
    with pytest.raises(PluginCompositionError, match=f"JointTraining and {name} cannot"):
        strategy(JointTraining, plugins=[component])


def test_cumulative_with_rehearsal_is_refused():
    from clhost_cumulative import Cumulative
    from clhost_replay import ReplayPlugin

    with pytest.raises(PluginCompositionError, match="only reweights them"):
        strategy(Cumulative, plugins=[ReplayPlugin()])


def test_replay_with_gdumb_is_refused_but_replay_alone_is_fine():
    from clhost_gdumb import GDumbPlugin
    from clhost_replay import Replay

    strategy(Replay)
    with pytest.raises(PluginCompositionError, match="rehearsing another memory"):
        strategy(Replay, plugins=[GDumbPlugin()])


def test_the_scr_loss_needs_a_model_with_a_projection_head():
    from clhost_loss_scr import SCRLoss
    from clhost_scr import SCRModel

    with pytest.raises(PluginCompositionError, match="criterion SCRLoss needs a component"):
        strategy(criterion=SCRLoss())
    mlp = SimpleMLP(num_classes=4, input_size=8, hidden_sizes=(8,))
    strategy(model=SCRModel.from_model(mlp), criterion=SCRLoss())


def test_the_cli_reports_a_refused_composition_in_one_line():
    from click.testing import CliRunner

    from clhost.cli import main

    result = CliRunner().invoke(
        main, ["run", "--strategy", "joint", "--plugin", "replay", "--explain"]
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "JointTraining and ReplayPlugin" in result.output


def test_info_shows_the_rules_a_component_declares():
    from click.testing import CliRunner

    from clhost.cli import main

    output = CliRunner().invoke(main, ["info", "gdumb", "--kind", "plugin"]).output
    rules = output.split("Composition rules (checked when a strategy is built):\n")[1]
    assert "    provides training-data: replaces the data each experience trains on\n" in rules
    assert "    conflicts with rehearsal: GDumb's memory is all it trains on" in rules
    joint = CliRunner().invoke(main, ["info", "joint"]).output
    assert "provides whole-stream: trains once on the whole stream" in joint


# Plugins that rehearse stored (or generated) samples of past experiences: a rewrite that
# drops the declaration silently lets joint training or GDumb be combined with them again.
REHEARSING = [
    "agem", "bic", "cope", "der", "er-ace", "gdumb", "gem", "generative-replay", "gss-greedy",
    "icarl", "mir", "rar", "replay", "scr",
]  # fmt: skip


@pytest.mark.parametrize("name", REHEARSING)
def test_every_rehearsal_plugin_declares_it(name):
    from clhost import registry
    from clhost.capabilities import declared_by

    assert REHEARSAL in declared_by(registry.load("plugin", name)).provides
