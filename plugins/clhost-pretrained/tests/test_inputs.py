import copy
from pathlib import Path

import pytest
import torch
import torchvision.datasets.cifar
from torchvision import transforms

from clhost.errors import ParameterError
from clhost.templates import SupervisedTemplate
from clhost_pretrained import DeviceResize, features, resize_inputs
from clhost_pretrained.cli import vit
from clhost_pretrained.testing import TINY_VIT, TINY_VIT_KWARGS, tiny_vit, write_cifar100


def torchvision_per_sample(images, size, mean, std, interpolation):
    """The reference: torchvision's Resize + Normalize, one image at a time."""
    mode = transforms.InterpolationMode(interpolation)
    pipeline = transforms.Compose(
        [transforms.Resize(size, interpolation=mode), transforms.Normalize(mean, std)]
    )
    return torch.stack([pipeline(image) for image in images])


@pytest.mark.parametrize(
    ("size", "interpolation"),
    [((48, 48), "bicubic"), ((20, 20), "bilinear"), ((64, 64), "nearest")],
)
def test_a_batch_equals_torchvision_resize_and_normalize_per_sample(size, interpolation):
    torch.manual_seed(0)
    images = torch.rand(5, 3, 32, 32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    transform = DeviceResize(size, mean, std, interpolation)
    expected = torchvision_per_sample(images, list(size), mean, std, interpolation)
    torch.testing.assert_close(transform(images), expected, rtol=1e-5, atol=1e-5)


def test_uint8_and_grey_images_are_scaled_and_repeated():
    torch.manual_seed(0)
    images = torch.randint(256, (4, 1, 32, 32), dtype=torch.uint8)
    transform = DeviceResize(48, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")
    reference = torchvision_per_sample(images.float() / 255, [48, 48], (0.5,), (0.5,), "bilinear")
    assert transform(images).shape == (4, 3, 48, 48)
    torch.testing.assert_close(transform(images), reference.expand(-1, 3, -1, -1))


def test_normalised_inputs_and_bad_settings_are_one_clear_error():
    transform = DeviceResize(48, (0.5,), (0.5,))
    with pytest.raises(ParameterError, match="normalize=False"):
        transform(torch.randn(2, 1, 32, 32) - 3)
    with pytest.raises(ParameterError, match="interpolation"):
        DeviceResize(48, (0.5,), (0.5,), "lanczos")
    with pytest.raises(ParameterError, match="timm model"):
        resize_inputs(torch.nn.Linear(3, 3))


def test_the_backbone_resizes_to_its_own_size_with_its_pretrained_statistics():
    backbone = tiny_vit(img_size=48, patch_size=12)
    transform = resize_inputs(backbone)
    assert resize_inputs(backbone) is transform  # asked twice: one transform
    assert transform.size == (48, 48) and transform.interpolation == "bicubic"
    images = torch.rand(3, 3, 32, 32)
    reference = torchvision_per_sample(images, [48, 48], (0.5,) * 3, (0.5,) * 3, "bicubic")
    backbone.eval()
    with torch.no_grad():
        expected = features(_unhooked(backbone), reference)
        torch.testing.assert_close(features(backbone, images), expected)
        copied = copy.deepcopy(backbone)  # the hook travels with the copy
        torch.testing.assert_close(features(copied, images), expected)
    assert not any("input_transform" in key for key in backbone.state_dict())


def test_split_cifar100_from_local_files_is_resized_on_the_way_into_the_backbone(
    tmp_path, monkeypatch
):
    from clhost_vision import split_cifar100

    monkeypatch.setattr(  # the test's files are not the real ones torchvision's checksums know
        torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file()
    )
    write_cifar100(tmp_path)
    benchmark = split_cifar100(10, root=str(tmp_path), normalize=False)
    experience = benchmark.train_stream[0]
    assert experience.dataset.x.shape[1:] == (3, 32, 32)  # the host keeps CIFAR's size
    torch.manual_seed(0)
    model = tiny_vit(img_size=48, patch_size=12, num_classes=100)
    resize_inputs(model)
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    strategy = SupervisedTemplate(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), train_mb_size=8
    )
    strategy.train(experience)
    assert seen and all(shape[1] == 1 + 16 for shape in seen)  # 4x4 patches of 12 at 48x48
    x = benchmark.test_stream[0].dataset.x
    resized = torchvision_per_sample(x, [48, 48], (0.5,) * 3, (0.5,) * 3, "bicubic")
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), _unhooked(model)(resized), rtol=1e-4, atol=1e-4)


def _unhooked(backbone: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``backbone`` that no longer resizes its inputs."""
    copied = copy.deepcopy(backbone)
    copied.patch_embed._forward_pre_hooks.clear()
    return copied


def test_clhost_run_model_option_keeps_the_model_size(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_vit(img_size=48, patch_size=12).state_dict(), path)
    kwargs = {**TINY_VIT_KWARGS, "img_size": 48, "patch_size": 12}
    model = vit(
        TINY_VIT,
        pretrained_path=str(path),
        in_channels=3,
        input_size=3 * 32 * 32,
        resize_inputs=True,
        **kwargs,
    )
    assert model.patch_embed.img_size == (48, 48)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 64)
