import json
import socket

import pytest
import torch
from click.testing import CliRunner

from clhost.cli import main
from clhost_pretrained.cli import vit

DIGITS_VIT = "model_name=vit_tiny_patch16_224,patch_size=2,depth=2,embed_dim=32,num_heads=2"


@pytest.fixture
def digits_weights(tmp_path):
    """Weights of a tiny ViT for Split Digits' 8x8 images, as if downloaded."""
    torch.manual_seed(0)
    model = vit(
        model_name="vit_tiny_patch16_224",
        pretrained=False,
        patch_size=2,
        depth=2,
        embed_dim=32,
        num_heads=2,
        input_size=64,
    )
    torch.save(model.state_dict(), tmp_path / "vit.pth")
    return tmp_path / "vit.pth"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("clhost tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("l2p", ["-p", "num_classes=10", "-p", "pool_size=10", "-p", "top_k=3"]),
        ("simplecil", []),
        ("ranpac", ["-p", "projection_size=128"]),
    ],
)
def test_clhost_run_with_a_local_vit_checkpoint_offline(
    strategy, params, digits_weights, tmp_path, no_network
):
    model = f"vit:{DIGITS_VIT},pretrained_path={digits_weights}"
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", "--strategy", strategy, "--model", model, *params, "--epochs", "1",
         "--output", str(output)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((output / "results.json").read_text())
    assert len(results["accuracy_matrix"]) == 5  # every Split Digits experience ran
    assert 0.0 <= results["average_accuracy"] <= 1.0
    assert (output / "checkpoint.pt").exists()


def test_clhost_run_without_a_checkpoint_is_one_clear_error(no_network):
    result = CliRunner().invoke(main, ["run", "--strategy", "l2p", "--model", f"vit:{DIGITS_VIT}"])
    assert result.exit_code != 0
    assert "pretrained=True needs pretrained_path" in result.output
    assert "Traceback" not in result.output


def test_flat_inputs_must_be_square():
    from clhost.errors import ParameterError

    with pytest.raises(ParameterError, match="no square image"):
        vit(model_name="vit_tiny_patch16_224", pretrained=False, input_size=60)
