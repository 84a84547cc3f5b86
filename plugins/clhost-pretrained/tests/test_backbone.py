import socket

import pytest
import torch
from safetensors.torch import save_file

from clhost.errors import ParameterError
from clhost_pretrained import create_backbone, features
from clhost_pretrained.testing import TINY_VIT, TINY_VIT_KWARGS, tiny_vit


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("clhost tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def trained_weights(pretrained_path):
    model = tiny_vit(num_classes=48)
    model.load_state_dict(torch.load(pretrained_path, weights_only=True))
    return {k: v for k, v in model.state_dict().items() if not k.startswith("head")}


def test_weights_load_from_a_file_offline(pretrained_path, no_network):
    backbone = create_backbone(
        TINY_VIT, pretrained=True, pretrained_path=pretrained_path, **TINY_VIT_KWARGS
    )
    expected = trained_weights(pretrained_path)
    assert backbone.state_dict().keys() == expected.keys()  # the 48-class head is dropped
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in expected.items())
    assert features(backbone, torch.randn(2, 3, 32, 32)).shape == (2, 64)


def test_weights_load_from_a_folder_of_safetensors(pretrained_path, tmp_path, no_network):
    save_file(trained_weights(pretrained_path), tmp_path / "model.safetensors")
    backbone = create_backbone(
        TINY_VIT, pretrained=True, pretrained_path=tmp_path, **TINY_VIT_KWARGS
    )
    assert torch.equal(backbone.pos_embed, trained_weights(pretrained_path)["pos_embed"])


def test_a_new_head_and_image_size_are_adapted_by_timm(pretrained_path, no_network):
    backbone = create_backbone(
        TINY_VIT,
        pretrained=True,
        pretrained_path=pretrained_path,
        **{**TINY_VIT_KWARGS, "img_size": 48, "num_classes": 5},
    )
    assert backbone.pos_embed.shape == (1, 1 + 36, 64)  # resampled from 16 patches
    assert backbone(torch.randn(1, 3, 48, 48)).shape == (1, 5)


def test_pretrained_without_a_path_is_one_clear_error(no_network):
    with pytest.raises(ParameterError, match="pretrained=True needs pretrained_path"):
        create_backbone(TINY_VIT, pretrained=True, **TINY_VIT_KWARGS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pretrained_path": "/no/such/file.pth"}, "does not exist"),
        ({"pretrained_path": "PATH", "depth": 3}, "lack blocks.2"),
    ],
)
def test_bad_weights_are_refused(kwargs, message, pretrained_path, no_network):
    if kwargs["pretrained_path"] == "PATH":
        kwargs["pretrained_path"] = pretrained_path
    with pytest.raises(ParameterError, match=message):
        create_backbone(TINY_VIT, pretrained=True, **{**TINY_VIT_KWARGS, **kwargs})


def test_unknown_model_names_and_stray_paths_are_refused():
    with pytest.raises(ParameterError, match="'vit_tyni' is not a timm model"):
        create_backbone("vit_tyni")
    with pytest.raises(ParameterError, match="say pretrained=True"):
        create_backbone(TINY_VIT, pretrained_path="w.pth", **TINY_VIT_KWARGS)


def test_readme_example_runs():
    from pathlib import Path

    from clhost.testing import run_readme_examples

    run_readme_examples(Path(__file__).parents[1] / "README.md")
