import pytest
import torch
import torch.nn.functional as F

from clhost.errors import ParameterError
from clhost_pretrained import PromptedViT, PromptPool
from clhost_pretrained.testing import tiny_vit


def test_each_query_takes_its_top_k_keys_and_their_prompts():
    torch.manual_seed(0)
    pool = PromptPool(6, 2, 4, 2)
    query = torch.randn(5, 4)
    chosen = pool(query)
    similarity = F.normalize(query, dim=1) @ F.normalize(pool.key, dim=1).T
    assert torch.equal(chosen.indices, similarity.topk(2, dim=1).indices)
    first = chosen.indices[0]
    assert torch.equal(chosen.prompts[0], torch.cat((pool.prompt[first[0]], pool.prompt[first[1]])))
    expected_pull = similarity.gather(1, chosen.indices).sum(1).mean()
    torch.testing.assert_close(chosen.pull, expected_pull)


def test_batchwise_prompts_are_the_most_chosen_ones_ties_to_the_lower_index():
    pool = PromptPool(5, 1, 5, 2, batchwise_prompt=True)
    pool.key.data = torch.eye(5)
    query = torch.tensor(
        [[1.0, 0.0, 0.5, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0, 0.0], [1.0, 0.2, 0.0, 0.0, 0.0]]
    )
    # per sample {0, 2}, {1, 2}, {0, 1}: prompts 0, 1 and 2 are each chosen twice
    assert pool(query).indices.tolist() == [[0, 1]] * 3


def test_keys_without_parameters_are_the_prompts_mean_tokens():
    pool = PromptPool(3, 4, 2, 1, prompt_key=False, init="zero")
    assert pool.key is None and torch.equal(pool.keys(), torch.zeros(3, 2))
    assert {name for name, _ in pool.named_parameters()} == {"prompt"}


def test_bad_pools_are_refused():
    with pytest.raises(ParameterError, match="top_k"):
        PromptPool(2, 1, 4, 3)
    with pytest.raises(ParameterError, match="prompt_init"):
        PromptPool(2, 1, 4, 1, init="normal")


def test_prompts_go_after_the_class_token_and_the_head_reads_them():
    torch.manual_seed(0)
    model = PromptedViT(tiny_vit(), PromptPool(4, 3, 64, 2), num_classes=5)
    x = torch.randn(2, 3, 32, 32)
    seen = []
    model.backbone.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    assert model(x).shape == (2, 5)
    query_pass, tokens = seen  # the frozen query, then the prompted pass
    assert query_pass.shape == (2, 1 + 16, 64)
    assert tokens.shape == (2, 1 + 6 + 16, 64)  # class token, 2 prompts of 3, 16 patches
    torch.testing.assert_close(tokens[:, 1:7], model.last_selection.prompts)
    with pytest.raises(ParameterError, match="timm VisionTransformer"):
        PromptedViT(torch.nn.Linear(2, 2), PromptPool(2, 1, 2, 1), num_classes=2)


def test_a_block_with_an_empty_prefix_is_the_block_and_a_prefix_changes_it():
    from clhost_pretrained.prefix import prefixed_block

    torch.manual_seed(0)
    block = tiny_vit().eval().blocks[0]
    x = torch.randn(2, 17, 64)
    empty = torch.zeros(2, 0, 64)
    torch.testing.assert_close(prefixed_block(block, x, (empty, empty)), block(x))
    prompt = torch.randn(2, 3, 64)
    changed = prefixed_block(block, x, (prompt, prompt))
    assert changed.shape == x.shape and not torch.allclose(changed, block(x))
