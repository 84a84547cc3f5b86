from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import clhost
from clhost.errors import ParameterError
from clhost.testing import assert_resumes, run_readme_examples
from clhost_coda_prompt import CODAPrompt, PromptComponents
from clhost_pretrained.testing import (
    assert_beats_naive,
    assert_one_clear_error,
    run_offline,
    seeded_strategy,
    texture_stream,
)

SETTINGS = dict(
    num_classes=6,
    pool_size=6,
    prompt_length=4,
    prompt_layer_idx=(0, 1),
    n_tasks=3,
    lr=0.01,
    train_mb_size=16,
)


@pytest.fixture(scope="module")
def stream():
    return texture_stream()


def coda(path, **options):
    return seeded_strategy(CODAPrompt, path, SETTINGS, options)


def test_the_prompt_is_the_attention_weighted_sum_of_the_seen_components():
    torch.manual_seed(0)
    components = PromptComponents(pool_size=6, length=4, dim=8, n_tasks=3)
    for task in (0, 1):
        components.start_task(task)
    query = torch.randn(5, 8)
    prompt = components(query, task=1)
    seen = slice(0, 4)  # two tasks of two components
    weights = F.cosine_similarity(
        query[:, None] * components.attention[seen], components.key[seen], dim=2
    )
    expected = torch.einsum("bm,mld->bld", weights, components.prompt[seen])
    torch.testing.assert_close(prompt, expected)
    keys = F.normalize(components.key[seen], dim=1)
    torch.testing.assert_close(keys @ keys.T, torch.eye(4), atol=1e-5, rtol=0)  # orthogonal
    prompt.sum().backward()
    assert components.prompt.grad[:2].abs().sum() == 0  # task 0's components: frozen
    assert components.prompt.grad[2:4].abs().sum() > 0  # task 1's: trained
    assert components.prompt.grad[4:].abs().sum() == 0  # task 2's: not yet used


def test_the_orthogonality_penalty_on_a_hand_made_case():
    components = PromptComponents(pool_size=4, length=2, dim=2, n_tasks=2)
    with torch.no_grad():
        components.key.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
        components.attention.copy_(torch.eye(2).repeat(2, 1))  # rows 0 and 2 equal, 1 and 3
        components.prompt.zero_()
        components.prompt[0, 0, 0] = components.prompt[1, 1, 1] = 1.0  # orthonormal rows
    assert components.orthogonality(task=0) == 0  # two orthonormal rows in each
    # task 1 sees 4 rows: keys K K^T - I has (0,2), (2,0) = 1 and (3,3) = -1: 3/16;
    # attention vectors: (0,2), (2,0), (1,3), (3,1) = 1: 4/16; prompts: rows 2, 3 zero
    # give (2,2), (3,3) = -1: 2/16
    torch.testing.assert_close(components.orthogonality(task=1), torch.tensor(9 / 16))
    components.orthogonality(task=1).backward()
    assert components.key.grad[:2].abs().sum() == 0  # task 0's rows stay as they are
    assert components.key.grad[2:].abs().sum() > 0


def test_the_penalty_enters_the_training_loss_with_its_weight(stream, pretrained_path):
    seen = []

    class Check:
        @clhost.hookimpl
        def clhost_before_backward(self, strategy):
            model = strategy.model
            cross_entropy = F.cross_entropy(strategy.mb_output, strategy.mb_y)
            penalty = model.orthogonality()
            seen.append(float(penalty.detach()))
            torch.testing.assert_close(strategy.loss, cross_entropy + 0.5 * penalty)

    strategy = coda(pretrained_path, ortho_weight=0.5, plugins=[Check()], evaluator=None)
    strategy.train(stream.train_stream[0])
    strategy.train(stream.train_stream[1])
    assert seen[0] < 1e-10 < max(seen)  # orthonormal at the start, then it moves
    with pytest.raises(ParameterError, match="ortho_weight"):
        coda(pretrained_path, ortho_weight=-1.0)


def test_each_experience_trains_only_its_components_and_no_backbone_weight(stream, pretrained_path):
    strategy = coda(pretrained_path, evaluator=None)
    strategy.train(stream.train_stream[0])
    before = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    strategy.train(stream.train_stream[1])
    after = strategy.model.state_dict()
    changed = {k for k, v in before.items() if not torch.equal(after[k], v)}
    assert all(k.startswith(("components.", "head.")) or k == "task" for k in changed)
    for layer in range(2):
        for name in ("prompt", "key", "attention"):
            key = f"components.{layer}.{name}"
            assert torch.equal(after[key][:2], before[key][:2])  # task 0's, frozen
            assert not torch.equal(after[key][2:4], before[key][2:4])  # task 1's
            assert torch.equal(after[key][4:], before[key][4:])  # task 2's: not started


def test_beats_naive_finetuning_of_the_same_backbone(stream, pretrained_path):
    strategy = coda(pretrained_path, train_epochs=3)
    assert_beats_naive(strategy, stream, pretrained_path, margin=0.2)


def test_resumes_exactly(stream, pretrained_path):
    assert_resumes(lambda: coda(pretrained_path, evaluator=None), stream.train_stream)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pool_size": 7}, "split evenly over 3 tasks"),
        ({"prompt_length": 3}, "must be even"),
        ({"prompt_layer_idx": (0, 2)}, "distinct layers"),
        ({"n_tasks": 2, "pool_size": 6}, "past n_tasks=2"),
    ],
)
def test_bad_settings_are_one_clear_error(options, message, stream, pretrained_path):
    assert_one_clear_error(lambda: coda(pretrained_path, **options), stream, message)


def test_clhost_run_with_a_local_vit_checkpoint_offline(pretrained_path, tmp_path):
    parameters = ["num_classes=6", "pool_size=6", "n_tasks=3", "prompt_layer_idx=0"]
    results = run_offline("coda-prompt", pretrained_path, tmp_path, parameters=parameters)
    assert 0.0 <= results["average_accuracy"] <= 1.0


def test_readme_example_runs():
    run_readme_examples(Path(__file__).parents[1] / "README.md")
