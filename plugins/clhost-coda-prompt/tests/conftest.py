import pytest

from clhost_pretrained.testing import pretrain


@pytest.fixture(scope="session")
def pretrained_path(tmp_path_factory):
    """A tiny ViT trained on texture classes no test stream shows, saved as a file."""
    return pretrain(tmp_path_factory.mktemp("pretrained") / "tiny-vit.pth")
