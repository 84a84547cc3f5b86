from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import clhost
from clhost.errors import ParameterError
from clhost.testing import assert_resumes, run_readme_examples
from clhost_l2p import LearningToPrompt
from clhost_pretrained import features
from clhost_pretrained.testing import (
    assert_beats_naive,
    pretrained_vit,
    seeded_strategy,
    texture_stream,
)

TRAINABLE = {"pool.prompt", "pool.key", "head.weight", "head.bias"}
SETTINGS = dict(num_classes=6, pool_size=10, prompt_length=4, top_k=3, lr=0.01, train_mb_size=16)


@pytest.fixture(scope="module")
def stream():
    return texture_stream()


def l2p(path, **options):
    return seeded_strategy(LearningToPrompt, path, SETTINGS, options)


class Capture:
    """Records, after each training iteration, what the step computed."""

    def __init__(self):
        self.steps = []

    @clhost.hookimpl
    def clhost_before_update(self, strategy):
        grads = {n for n, p in strategy.model.named_parameters() if p.grad is not None}
        selection = strategy.model.last_selection
        self.steps.append(
            dict(
                x=strategy.mb_x,
                y=strategy.mb_y,
                output=strategy.mb_output.detach(),
                loss=strategy.loss.detach(),
                selection=selection,
                grads=grads,
                keys=strategy.model.pool.keys().detach().clone(),
                classes=list(strategy.experience.classes_in_this_experience),
            )
        )


def test_top_k_prompts_are_chosen_by_key_query_cosine_similarity(stream, pretrained_path):
    capture = Capture()
    strategy = l2p(pretrained_path, plugins=[capture])
    strategy.train(stream.train_stream[0])
    step = capture.steps[-1]
    with torch.no_grad():
        query = features(pretrained_vit(pretrained_path).eval(), step["x"])  # the [CLS] query
    keys = step["keys"]  # as they were when the prompts were chosen
    similarity = F.normalize(query, dim=1) @ F.normalize(keys, dim=1).T
    selection = step["selection"]
    torch.testing.assert_close(selection.similarity.detach(), similarity, rtol=1e-4, atol=1e-3)
    expected = similarity.topk(3, dim=1).indices
    assert torch.equal(selection.indices.sort(1).values, expected.sort(1).values)
    assert selection.prompts.shape == (len(step["x"]), 3 * 4, 64)


def test_only_prompts_keys_and_head_learn_and_the_backbone_never_changes(stream, pretrained_path):
    capture = Capture()
    strategy = l2p(pretrained_path, plugins=[capture])
    before = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    for experience in stream.train_stream[:2]:
        strategy.train(experience)
    assert all(step["grads"] == TRAINABLE for step in capture.steps)
    after = strategy.model.state_dict()
    changed = {k for k, v in before.items() if not torch.equal(after[k], v)}
    assert changed == TRAINABLE  # every backbone weight is as loaded
    groups = strategy.optimizer.param_groups
    assert {id(p) for g in groups for p in g["params"]} == {
        id(p) for n, p in strategy.model.named_parameters() if n in TRAINABLE
    }


def test_loss_is_cross_entropy_minus_the_pull_constraint_on_masked_logits(stream, pretrained_path):
    capture = Capture()
    strategy = l2p(pretrained_path, plugins=[capture], sim_coefficient=0.5)
    strategy.train(stream.train_stream[1])
    for step in capture.steps:
        absent = [c for c in range(6) if c not in step["classes"]]
        assert torch.isinf(step["output"][:, absent]).all()  # use_mask
        pull = step["selection"].pull.detach()
        expected = F.cross_entropy(step["output"], step["y"]) - 0.5 * pull
        torch.testing.assert_close(step["loss"], expected)
        assert 0 < pull <= 3  # top_k cosine similarities, summed


def test_beats_naive_finetuning_of_the_same_backbone(stream, pretrained_path):
    strategy = l2p(pretrained_path, train_epochs=3)
    assert_beats_naive(strategy, stream, pretrained_path, margin=0.2)


def test_resumes_exactly(stream, pretrained_path):
    def build():
        return l2p(pretrained_path, evaluator=None)

    assert_resumes(build, stream.train_stream, split=1)


def test_task_prompt_mask_and_batchwise_prompts(stream, pretrained_path):
    masked = l2p(pretrained_path, use_prompt_mask=True, train_prompt_mask=True, top_k=2)
    x = stream.train_stream[0].dataset.x[:4]
    masked.model(x, torch.tensor([0, 1, 2, 1]))
    chosen = masked.model.last_selection.indices
    assert chosen.tolist() == [[0, 1], [2, 3], [4, 5], [2, 3]]
    batchwise = l2p(pretrained_path, batchwise_prompt=True)
    batchwise.model(x)
    indices = batchwise.model.last_selection.indices
    assert (indices == indices[0]).all()


def test_bf16_and_channels_last_train(stream, pretrained_path):
    strategy = l2p(pretrained_path, bf16=True, channels_last=True)
    strategy.train(stream.train_stream[0])
    assert torch.isfinite(strategy.loss)


def test_without_a_pool_one_prompt_serves_every_sample(stream, pretrained_path):
    strategy = l2p(pretrained_path, prompt_pool=False)
    strategy.train(stream.train_stream[0])
    assert strategy.model.pool.prompt.shape == (1, 4, 64)
    assert strategy.model.pool.key is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": None}, "pretrained=True needs pretrained_path"),
        ({"use_vit": False}, "use_vit=False is not supported"),
        ({"top_k": 11}, "top_k"),
        ({"head_type": "cls"}, "head_type"),
        ({"model": torch.nn.Linear(2, 2)}, "timm VisionTransformer"),
    ],
)
def test_bad_parameters_are_one_clear_error(options, message, pretrained_path):
    with pytest.raises(ParameterError, match=message):
        l2p(pretrained_path, **options) if "model" not in options else LearningToPrompt(**options)


def test_too_few_classes_for_the_stream_is_one_clear_error(stream, pretrained_path):
    with pytest.raises(ParameterError, match="num_classes is 2 but experience 1 has class 3"):
        strategy = l2p(pretrained_path, num_classes=2)
        for experience in stream.train_stream:
            strategy.train(experience)


def test_builds_the_backbone_from_a_timm_name():
    strategy = LearningToPrompt(model_name="vit_tiny_patch16_224", pretrained=False)
    assert strategy.model.pool.prompt.shape == (20, 5, 192)  # Avalanche's defaults


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")
