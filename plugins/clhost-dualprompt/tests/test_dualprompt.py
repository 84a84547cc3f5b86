from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import clhost
import clhost_pretrained.prefix as prefix
from clhost.testing import assert_resumes, run_readme_examples
from clhost_dualprompt import DualPrompt, DualPromptViT
from clhost_pretrained import features
from clhost_pretrained.testing import (
    assert_beats_naive,
    assert_one_clear_error,
    pretrained_vit,
    run_offline,
    seeded_strategy,
    texture_stream,
    tiny_vit,
)

TRAINABLE = {"g_prompt", "pool.prompt", "pool.key", "head.weight", "head.bias"}
SETTINGS = dict(
    num_classes=6,
    pool_size=3,
    g_prompt_layer_idx=(0,),
    e_prompt_layer_idx=(1,),
    g_prompt_length=2,
    e_prompt_length=4,
    lr=0.03,
    train_mb_size=16,
)


@pytest.fixture(scope="module")
def stream():
    return texture_stream()


def dualprompt(path, **options):
    return seeded_strategy(DualPrompt, path, SETTINGS, options)


def test_general_and_expert_prompts_prefix_the_attention_of_their_layers(monkeypatch):
    torch.manual_seed(0)
    model = DualPromptViT(
        tiny_vit(depth=4),
        5,
        g_prompt_length=2,
        g_prompt_layer_idx=(0, 1),
        e_prompt_length=3,
        e_prompt_layer_idx=(2,),
        pool_size=4,
        top_k=1,
    )
    calls = []
    original = prefix.prefix_attention

    def record(attn, x, keys, values):
        calls.append((attn, keys, values))
        return original(attn, x, keys, values)

    monkeypatch.setattr(prefix, "prefix_attention", record)
    x = torch.randn(2, 3, 32, 32)
    model(x)
    blocks = model.backbone.blocks
    # layers 0 and 1 read the G-prompt, layer 2 the E-prompt, layer 3 none
    assert [call[0] for call in calls] == [blocks[0].attn, blocks[1].attn, blocks[2].attn]
    for layer in (0, 1):  # the G-prompt, the same for every sample
        _, keys, values = calls[layer]
        assert torch.equal(keys[1], model.g_prompt[layer, 0])
        assert torch.equal(values[0], model.g_prompt[layer, 1])
    _, keys, values = calls[2]  # each sample's E-prompt: its first half keys, then values
    chosen = model.pool.prompt[model.last_selection.indices[:, 0]]
    assert torch.equal(keys, chosen[:, :3]) and torch.equal(values, chosen[:, 3:])


class Capture:
    def __init__(self):
        self.train, self.eval = [], []

    @clhost.hookimpl
    def clhost_before_update(self, strategy):
        grads = {n for n, p in strategy.model.named_parameters() if p.grad is not None}
        indices = strategy.model.last_selection.indices
        self.train.append((strategy.experience.current_experience, indices, grads))

    @clhost.hookimpl
    def clhost_after_eval_forward(self, strategy):
        self.eval.append((strategy.mb_x, strategy.model.last_selection))


def test_each_experience_trains_its_expert_and_tests_choose_by_key(stream, pretrained_path):
    capture = Capture()
    strategy = dualprompt(pretrained_path, plugins=[capture], evaluator=None)
    before = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    for experience in stream.train_stream:
        strategy.train(experience)
    for index, indices, grads in capture.train:
        assert (indices == index).all() and grads == TRAINABLE
    after = strategy.model.state_dict()
    assert {k for k, v in before.items() if not torch.equal(after[k], v)} == TRAINABLE
    strategy.eval(stream.test_stream)
    x, selection = capture.eval[-1]
    with torch.no_grad():
        query = features(pretrained_vit(pretrained_path).eval(), x)
    similarity = F.normalize(query, dim=1) @ F.normalize(strategy.model.pool.key, dim=1).T
    assert torch.equal(selection.indices[:, 0], similarity.argmax(dim=1))


def test_beats_naive_finetuning_of_the_same_backbone(stream, pretrained_path):
    strategy = dualprompt(pretrained_path, train_epochs=3)
    assert_beats_naive(strategy, stream, pretrained_path, margin=0.2)


def test_resumes_exactly(stream, pretrained_path):
    assert_resumes(lambda: dualprompt(pretrained_path, evaluator=None), stream.train_stream)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"e_prompt_layer_idx": (0,)}, "distinct layers"),
        ({"e_prompt_layer_idx": (5,)}, "distinct layers"),
        ({"pool_size": 2}, "task 2 has no prompts of its own"),
    ],
)
def test_bad_settings_are_one_clear_error(options, message, stream, pretrained_path):
    assert_one_clear_error(lambda: dualprompt(pretrained_path, **options), stream, message)


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")


def test_clhost_run_with_a_local_vit_checkpoint_offline(pretrained_path, tmp_path):
    parameters = ["num_classes=6", "pool_size=3", "g_prompt_layer_idx=0", "e_prompt_layer_idx=1"]
    results = run_offline("dualprompt", pretrained_path, tmp_path, parameters=parameters)
    assert 0.0 <= results["average_accuracy"] <= 1.0
