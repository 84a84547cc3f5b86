import pytest
import torch

from clhost.errors import ParameterError
from clhost_pretrained.cli import vit

TINY = {"model_name": "vit_tiny_patch16_224", "patch_size": 2, "depth": 1, "embed_dim": 32}


def test_flat_square_inputs_are_viewed_as_one_channel_images():
    model = vit(pretrained=False, num_heads=2, input_size=64, num_classes=10, **TINY)
    assert model.patch_embed.proj.in_channels == 1
    assert model(torch.randn(3, 64)).shape == (3, 10)
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)


def test_flat_inputs_must_be_square():
    with pytest.raises(ParameterError, match="no square image"):
        vit(pretrained=False, input_size=60, **TINY)


def test_the_textures_benchmark_is_registered():
    from clhost import registry

    benchmark = registry.load("benchmark", "textures")()
    assert benchmark.input_shape == (3, 32, 32) and benchmark.n_classes == 6
