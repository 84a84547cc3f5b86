"""Accuracy and CPU-time parity of clhost with Avalanche 0.6.0, strategy by strategy.

For every strategy both libraries have, both train side by side on identical data (the
tensors of clhost's digit benchmarks, handed per experience to Avalanche's
``tensors_benchmark``), the same architecture with the same initial weights (one
seeded clhost model built for each side, copied for Avalanche), the same optimizer and
training settings (the reference configuration of issue 9: MLP 64-256-10, minibatches
of 32, 5 epochs per experience, memory 200) and the strategy parameters of
``STRATEGIES``, one table that maps each clhost parameter to its Avalanche name and gives
both sides one value. Runs are interleaved: for each strategy and seed, clhost, then
Avalanche.

Scenarios: ``class-il`` (Split Digits, 5 experiences of 2 classes, one 10-way head),
``task-il`` (the same split with task labels and class ids from zero in each task, one
2-way head per task, created up front with identical weights on both sides),
``domain-il`` (Permuted Digits, 5 permutations) and ``online`` (class-il cut into
10-sample mini-experiences in a seeded order, one pass with minibatches of 10: one
``train()`` call per mini-experience on both sides, with task boundaries known).
Optimizers: ``sgd`` (lr 0.1), ``momentum`` (SGD, momentum 0.9, lr 0.01), ``adam``
(lr 0.001).

Metric: accuracy on the whole test stream after the last experience, pooled over all
test samples (Avalanche's ``Top1_Acc_Stream``; clhost's ``accuracy_pooled``), each from
the library's own evaluation, which applies each method's own prediction rule (NCM for
iCaRL/SCR, prototypes for CoPE). The same hand-written loop (argmax of the model's
output) is also run on both final models; where it differs from the library's number
for a method that predicts by argmax, the row says so. CPU time is ``process_time``
of training alone (evaluation excluded), one intra-op thread.

Results are cached in ``benchmarks/.parity-cache.jsonl``, one line per (library,
strategy, scenario, optimizer, seed), keyed also by the strategy's settings and, for
clhost, by a hash of the sources of the strategy's distribution and of the clhost-*
distributions it depends on: a changed strategy is run again, unchanged ones are read
back (``--fresh`` ignores the cache, ``--cached-only`` only prints it). Needs Avalanche:
run it with the Avalanche environment of ``benchmarks/README.md``::

    /work/avl-venv/bin/python benchmarks/parity.py --quick
    /work/avl-venv/bin/python benchmarks/parity.py --strategies mir,der --scenarios class-il
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import importlib
import inspect
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from clhost.benchmarks import permuted_digits, split_digits, split_online
from clhost.cli._compose import seed_everything  # what clhost run seeds
from clhost.data import Benchmark, Stream, TensorData

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".parity-cache.jsonl"
AVALANCHE_VERSION = "0.6.0"

INPUT, HIDDEN, CLASSES = 64, 256, 10
BATCH, EPOCHS, MEMORY, EVAL_BATCH = 32, 5, 200, 256
N_EXPERIENCES, ONLINE_SIZE = 5, 10
SEEDS = (0, 1, 2)
SCENARIOS = ("class-il", "task-il", "domain-il", "online")
DIFF_FLAG, RATIO_FLAG = -0.03, 1.0


@dataclass(frozen=True)
class Optimizer:
    label: str
    make: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


OPTIMIZERS = {
    "sgd": Optimizer("SGD lr 0.1", lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": Optimizer(
        "SGD momentum 0.9 lr 0.01", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)
    ),
    "adam": Optimizer("Adam lr 0.001", lambda p: torch.optim.Adam(p, lr=0.001)),
}


@dataclass(frozen=True)
class Pair:
    """One strategy in both libraries: the clhost entry point, the Avalanche class (in
    ``avalanche.training``, or ``Naive+<Plugin>`` for a method Avalanche has only as a
    plugin) and its parameters as ``(clhost name, Avalanche name, value)``; ``online``
    holds more parameters for the online scenario only."""

    avalanche: str
    params: tuple[tuple[str, str, Any], ...] = ()
    note: str = ""
    online: tuple[tuple[str, str, Any], ...] = ()

    def settings(self, scenario: str) -> tuple[tuple[str, str, Any], ...]:
        return self.params + (self.online if scenario == "online" else ())

    def clhost_kwargs(self, scenario: str) -> dict[str, Any]:
        return {ours: value for ours, _, value in self.settings(scenario) if ours}

    def avalanche_kwargs(self, scenario: str) -> dict[str, Any]:
        return {theirs: value for _, theirs, value in self.settings(scenario) if theirs}


M = MEMORY
# The one table of settings. Where a method needs a value and the libraries' defaults
# differ, one was picked (clhost's default unless said) and given to both.
STRATEGIES: dict[str, Pair] = {
    "naive": Pair("Naive"),
    "cumulative": Pair("Cumulative"),
    "joint": Pair("JointTraining", note="trained once on the whole stream"),
    "from-scratch": Pair("FromScratchTraining", (("reset_optimizer", "reset_optimizer", True),)),
    "replay": Pair("Replay", (("mem_size", "mem_size", M),)),
    "gdumb": Pair(
        "GDumb",
        (("mem_size", "mem_size", M), ("balancing", "", "reservoir"))
        + (("task_balanced_dataloader", "", True),),
        note="balancing='reservoir', Avalanche's per-class reservoir (clhost's default is "
        "the paper's greedy sampler); task_balanced_dataloader, Avalanche's minibatches "
        "(clhost's default: plain shuffled ones; the same with one task)",
    ),
    "der": Pair(
        "DER",
        (("mem_size", "mem_size", M), ("batch_size_mem", "batch_size_mem", None))
        + (("alpha", "alpha", 0.1), ("beta", "beta", 0.5), ("memory_update", "", "experience")),
        note="memory_update='experience', Avalanche's memory (clhost's default is the paper's "
        "'minibatch' reservoir)",
    ),
    "er-ace": Pair(
        "ER_ACE", (("mem_size", "mem_size", M), ("batch_size_mem", "batch_size_mem", 10))
    ),
    "mir": Pair(
        "MIR",
        (("mem_size", "mem_size", M), ("subsample", "subsample", 50))
        + (("batch_size_mem", "batch_size_mem", 10), ("memory", "", "class_balanced")),
        note="batch_size_mem: clhost's 10 (Avalanche's default is 1); memory='class_balanced', "
        "Avalanche's class-balanced memory (clhost's default: the paper's reservoir)",
    ),
    "gss-greedy": Pair(
        "GSS_greedy",
        (("mem_size", "mem_size", M), ("mem_strength", "mem_strength", 5))
        + (("input_size", "input_size", [INPUT]),),
        note="mem_strength: clhost's 5 (Avalanche's default is 1)",
    ),
    "bic": Pair(
        "BiC",
        (("mem_size", "mem_size", M), ("val_percentage", "val_percentage", 0.1), ("T", "T", 2))
        + (("stage_2_epochs", "stage_2_epochs", 200), ("lamb", "lamb", -1), ("lr", "lr", 0.1)),
    ),
    "icarl": Pair(
        "ICaRL",
        (("memory_size", "memory_size", M), ("fixed_memory", "fixed_memory", True))
        + (("buffer_transform", "buffer_transform", None),),
        note="feature extractor and classifier: the MLP's `features` and `classifier`",
    ),
    "scr": Pair(
        "SCR",
        (("mem_size", "mem_size", M), ("temperature", "temperature", 0.1))
        + (("batch_size_mem", "batch_size_mem", 100),)
        + (("normalize_before_projection", "", True),),
        note="same projection head (256-256-128) and weights; augmentation: clhost's "
        "Gaussian noise (its 'auto' for flat inputs) on both; the head takes the normalised "
        "features, as Avalanche's SCRModel (clhost's default, the paper's: the raw ones); "
        "Avalanche's head ends in L2Normalization, as the paper's embedding (clhost-scr README)",
    ),
    "generative-replay": Pair(
        "GenerativeReplay",
        (("replay_size", "replay_size", None),)
        + (("increasing_replay_size", "increasing_replay_size", True),),
        note="generator: one VAE on both sides (clhost's default: 64-128-8, sigmoid output, "
        "BCE + KL; same initial weights), trained by each library's generator strategy with "
        "clhost's defaults (Adam lr 0.003, 30 epochs per experience); each library's own "
        "default VAE: clhost-generative-replay README",
    ),
    "ewc": Pair(
        "EWC",
        (("ewc_lambda", "ewc_lambda", 100.0), ("mode", "mode", "separate"))
        + (("decay_factor", "decay_factor", None),)
        + (("keep_importance_data", "keep_importance_data", False),),
        note="ewc_lambda 100: at 1000 (clhost's default) both sides diverge with SGD lr 0.1",
    ),
    "synaptic-intelligence": Pair(
        "SynapticIntelligence",
        (("si_lambda", "si_lambda", 0.1), ("eps", "eps", 1e-3)),
        note="eps: the paper's damping, clhost's default (Avalanche's default 1e-7 gives "
        "importances of ~8e3 that Avalanche hides behind a cap of 0.001)",
    ),
    "lwf": Pair("LwF", (("alpha", "alpha", 1.0), ("temperature", "temperature", 2.0))),
    "lfl": Pair(
        "LFL",
        (("lambda_e", "", 0.1 * 2 / HIDDEN), ("", "lambda_e", 0.1))
        + (("freeze", "", "last_layer"),),
        note="the same weight: Avalanche's lambda_e 0.1 multiplies the mean squared feature "
        "distance, clhost's the paper's half sum over the 256 features, so clhost's is "
        "0.1 * 2 / 256; freeze='last_layer', Avalanche's (clhost's default freezes only the "
        "units of classes learnt); online: consolidate='piece', Avalanche's consolidation "
        "after every mini-experience (clhost's default: when the experience they were cut "
        "from ends)",
        online=(("consolidate", "", "piece"),),
    ),
    "agem": Pair(
        "AGEM",
        (("patterns_per_experience", "patterns_per_exp", M), ("sample_size", "sample_size", 64)),
        note="sample_size: Avalanche's 64 (clhost's default is 256)",
    ),
    "gem": Pair(
        "GEM",
        (("patterns_per_experience", "patterns_per_exp", M),)
        + (("memory_strength", "memory_strength", 0.5),),
    ),
    "cope": Pair(
        "CoPE",
        (("mem_size", "mem_size", M), ("n_classes", "n_classes", CLASSES), ("p_size", "p_size", 10))
        + (("alpha", "alpha", 0.99), ("T", "T", 0.1), ("max_it_cnt", "", 1)),
        note="p_size 10: the MLP's output is the embedding. An online method: Avalanche's "
        "CoPE makes max_it_cnt=1 update per experience (fixed), so compare it online",
    ),
    "mas": Pair(
        "MAS",
        (("lambda_reg", "lambda_reg", 0.1), ("alpha", "alpha", 0.5)),
        note="lambda_reg 0.1: at 1.0 (both defaults) both sides diverge with SGD lr 0.1",
    ),
    "rwalk": Pair(
        "Naive+RWalkPlugin",
        (("ewc_lambda", "ewc_lambda", 0.1), ("ewc_alpha", "ewc_alpha", 0.9))
        + (("delta_t", "delta_t", 10),),
    ),
    "rar": Pair(
        "Naive+RARPlugin",
        (("batch_size_mem", "batch_size_mem", 10), ("mem_size", "mem_size", M))
        + (("layer_name", "name_ext_layer", "features"),)
        + (("use_adversarial_replay", "use_adversarial_replay", True),)
        + (("beta_coef", "beta_coef", 0.4), ("decay_factor_fgsm", "decay_factor_fgsm", 1.0))
        + (("epsilon_fgsm", "epsilon_fgsm", 0.0314), ("iter_fgsm", "iter_fgsm", 2))
        + (("train_mb_size", "", 10), ("replay_weighting", "", "joint")),
        note="latent layer: the MLP's features (Avalanche: `features.2`, their output); "
        "clhost's minibatch 10: Avalanche's RARPlugin trains on minibatches of "
        "batch_size_mem incoming samples whatever train_mb_size says; "
        "replay_weighting='joint', Avalanche's one mean over current and replayed samples "
        "(clhost's default: a replay mean of its own)",
    ),
    "cwr-star": Pair(
        "CWRStar",
        (("cwr_layer_name", "cwr_layer_name", "classifier"),),
        note="the MLP's classifier; every other layer frozen after the first experience on "
        "both sides; clhost also consolidates the classifier's biases (Avalanche leaves "
        "them free)",
    ),
    "ar1": Pair(
        "AR1",
        (("lr", "lr", 0.1), ("momentum", "momentum", 0.0), ("l2", "l2", 0.0))
        + (("inc_lr", "inc_lr", 0.01), ("rm_sz", "rm_sz", M))
        + (("latent_layer_num", "", 2), ("", "freeze_below_layer", "output")),
        note="the same MLP on both sides, random weights, cut after its hidden layer "
        "(Avalanche's AR1 builds a pretrained MobileNetV1 from a download: here it is "
        "handed the MLP split into lat_features/end_features/output); latent replay of "
        "the hidden activations, CWR* on the classifier, no batch norm to renormalise; "
        "SGD lr 0.1, inc_lr 0.01: compare with the sgd optimizer only (Avalanche's AR1 "
        "builds its own SGD whatever optimizer the table names)",
    ),
    "mer": Pair(
        "MER",
        (("mem_size", "mem_size", M), ("batch_size_mem", "batch_size_mem", 10))
        + (("n_inner_steps", "n_inner_steps", 5), ("beta", "beta", 0.1))
        + (("gamma", "gamma", 0.1), ("samples_per_step", "", 1)),
        note="samples_per_step=1 (clhost's default): SGD steps on one sample at a time, as "
        "the paper's and Avalanche's; clhost steps by plain SGD at the optimizer's lr, "
        "Avalanche by the optimizer",
    ),
    "lamaml": Pair(
        "supervised.lamaml_v2.LaMAML",
        (("n_inner_updates", "n_inner_updates", 5), ("second_order", "second_order", True))
        + (("grad_clip_norm", "grad_clip_norm", 1.0), ("learn_lr", "learn_lr", True))
        + (("lr_alpha", "lr_alpha", 0.25), ("sync_update", "sync_update", False))
        + (("alpha_init", "alpha_init", 0.1), ("max_buffer_size", "max_buffer_size", M))
        + (("buffer_mb_size", "buffer_mb_size", 10),),
        note="Avalanche's lamaml_v2 (its v1 needs `higher`); it re-initialises the model "
        "(Kaiming normal), so the initial weights differ; clhost's lamaml-v2 is the same class",
    ),
    "streaming-lda": Pair(
        "StreamingLDA",
        (("input_size", "input_size", HIDDEN), ("num_classes", "num_classes", CLASSES))
        + (("shrinkage_param", "shrinkage_param", 1e-4),)
        + (("streaming_update_sigma", "streaming_update_sigma", True),),
        note="slda_model: the MLP's `features` (64-256 ReLU) with its seeded random weights, "
        "frozen; no optimizer; every epoch fits the data again, as Avalanche",
    ),
    "pnn": Pair(
        "PNNStrategy",
        note="each library's own PNN (1 layer of 256 units per column, MLP adapters) built "
        "after seeding: the architectures differ (clhost's output layer is lateral too), so "
        "not the same weights",
    ),
    "expert-gate": Pair(
        "ExpertGateStrategy",
        (("ae_train_mb_size", "ae_train_mb_size", 16), ("ae_train_epochs", "ae_train_epochs", 10))
        + (("ae_lr", "ae_lr", 0.001), ("rel_thresh", "rel_thresh", 0.85))
        + (("lwf_alpha", "", 0.01),),
        note="the same seeded MLP 64-256 as the 'pretrained' backbone on both sides (Avalanche "
        "is handed it as its AlexNet: features, identity avgpool, classifier; its "
        "autoencoders read its 256 features), 100-unit autoencoders, gate temperature 2, "
        "LwF alpha 0.01 (Avalanche's, fixed); task-il evaluated without task labels; "
        "Avalanche evaluates with minibatches of 1, so its gate too decides per sample (with "
        "its default, one expert per evaluation minibatch, a minibatch of one task gives the "
        "task away)",
    ),
}
# clhost errors that refuse a combination on purpose, with a reason (not failures)
REFUSALS = ("ParameterError:", "PluginCompositionError:")
# Scenarios where a strategy is compared, when not all, and why
ONLY_IN = {"cope": ("online",), "expert-gate": ("task-il",)}
ONLY_WHY = {
    "cope": "an online method; Avalanche's CoPE makes one update per experience "
    "(max_it_cnt=1, fixed) whatever the epochs",
    "expert-gate": "an expert per task: Avalanche keys experts by task label, so a stream "
    "without task labels keeps one",
}
# strategies whose prediction is not the argmax of the model's output (NCM, prototypes,
# BiC's bias correction applied in evaluation hooks)
OWN_PREDICTION = {"icarl", "scr", "cope", "bic", "streaming-lda"}  # Avalanche's SLDA
# model is the feature extractor; its scores come from the strategy
AVALANCHE_LAYER = {"features": "features.2"}


# --- data: one set of tensors, two libraries -------------------------------------------


@dataclass
class Scenario:
    """The tensors of one scenario and seed, and clhost's streams built from them."""

    name: str
    benchmark: Benchmark
    train: list[TensorData]  # per experience (for online: per mini-experience)
    test: list[TensorData]
    task_labels: list[int]  # per train experience

    @property
    def multi_task(self) -> bool:
        return self.name == "task-il"

    @property
    def train_stream(self) -> Stream:
        if self.name == "online":
            return split_online(self.benchmark.train_stream, ONLINE_SIZE)
        return self.benchmark.train_stream


def make_scenario(name: str, seed: int) -> Scenario:
    """The clhost benchmark of ``name``; for ``online`` its train experiences are shuffled
    once by ``seed`` here, so both libraries cut the same mini-experiences in order."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if name == "domain-il":
        benchmark = permuted_digits(N_EXPERIENCES, seed=seed)
    else:
        benchmark = split_digits(
            N_EXPERIENCES,
            seed=seed,
            task_labels=name == "task-il",
            class_ids_from_zero_in_each_exp=name == "task-il",
        )
    if name == "online":
        generator = torch.Generator().manual_seed(seed)
        for experience in benchmark.train_stream:
            order = torch.randperm(len(experience), generator=generator)
            experience.dataset = experience.dataset.subset(order)
    train = [experience.dataset for experience in benchmark.train_stream]
    test = [experience.dataset for experience in benchmark.test_stream]
    tasks = [experience.task_label for experience in benchmark.train_stream]
    return Scenario(name, benchmark, train, test, tasks)


def tensor_lists(parts: Sequence[TensorData]) -> list[list[Tensor]]:
    """``[x, y]`` per experience, the form of Avalanche's ``tensors_benchmark``."""
    return [[part.x, part.y] for part in parts]


def pooled_accuracy(correct: Sequence[float], sizes: Sequence[int]) -> float:
    """Accuracy over all samples of experiences with ``correct`` right answers out of
    ``sizes`` (pooled: each sample weighs the same, as Avalanche's stream accuracy)."""
    if len(correct) != len(sizes):
        raise ValueError("one count of correct answers per experience is needed")
    total = sum(sizes)
    return math.nan if total == 0 else sum(correct) / total


@torch.no_grad()
def argmax_accuracy(model: nn.Module, test: Sequence[TensorData], multi_task: bool) -> float:
    """Pooled accuracy of ``argmax model(x)`` (``model(x, t)`` when ``multi_task`` and the
    model takes task labels) over the test experiences, in eval mode: the same loop for
    both libraries' final models."""
    # a model that takes no task labels (SCR's, iCaRL's) predicts from x alone; one that
    # needs them (PNN's) gets them in every scenario
    params = list(inspect.signature(model.forward).parameters.values())
    by_task = len(params) > 1 and (multi_task or params[1].default is inspect.Parameter.empty)
    was_training = model.training
    model.eval()
    correct = []
    for part in test:
        hits = 0
        for start in range(0, len(part), EVAL_BATCH):
            x, y, t = (tensor[start : start + EVAL_BATCH] for tensor in (part.x, part.y, part.t))
            output = model(x, t) if by_task else model(x)
            hits += int((output.argmax(dim=1) == y).sum())
        correct.append(hits)
    model.train(was_training)
    return pooled_accuracy(correct, [len(part) for part in test])


# --- models: the same architecture and weights on both sides ----------------------------


def make_model(scenario: Scenario, seed: int) -> nn.Module:
    """clhost's MLP 64-256-10 (multi-head with every task's head already made, for
    task-il) with weights drawn from ``seed``."""
    from clhost.models import MultiHeadMLP, SimpleMLP
    from clhost.models.dynamic import adapt_model

    torch.manual_seed(seed)
    if not scenario.multi_task:
        return SimpleMLP(num_classes=CLASSES, input_size=INPUT, hidden_sizes=(HIDDEN,))
    model = MultiHeadMLP(input_size=INPUT, hidden_sizes=(HIDDEN,))
    for experience in scenario.benchmark.train_stream:
        adapt_model(model, experience)
    return model


def pnn_model(library: str, seed: int) -> nn.Module:
    """A library's own PNN of the reference size, drawn after seeding."""
    if library == "clhost":
        from clhost_pnn import PNN
    else:
        from avalanche.models import PNN
    torch.manual_seed(seed)
    return PNN(num_layers=1, in_features=INPUT, hidden_features_per_column=HIDDEN)


def expert_gate_backbone(seed: int) -> nn.Module:
    """The MLP both libraries' Expert Gate start from, its seeded random weights standing
    for pretrained ones."""
    from clhost.models import SimpleMLP

    torch.manual_seed(seed)
    return SimpleMLP(num_classes=CLASSES, input_size=INPUT, hidden_sizes=(HIDDEN,))


class AvalancheAlexNetMLP(nn.Module):
    """The layout Avalanche's Expert Gate reads of torchvision's AlexNet (features,
    avgpool, classifier), around a copy of the parity backbone."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        backbone = copy.deepcopy(backbone)
        self.features, self.avgpool = backbone.features, nn.Identity()
        self.classifier = nn.Sequential(backbone.classifier)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def avalanche_model(model: nn.Module, benchmark: Any) -> nn.Module:
    """The same network for Avalanche: a copy, or for a multi-head model an Avalanche
    multi-task module with the same body and each task's head copied in."""
    from avalanche.models import BaseModel, MultiHeadClassifier, MultiTaskModule

    from clhost.models import MultiHeadMLP

    if not isinstance(model, MultiHeadMLP):
        twin, base = copy.deepcopy(model), type(model)
        # Avalanche's LFL reads the penultimate features through BaseModel.get_features;
        # its LaMAML passes task labels to every model, which a single-task one ignores
        twin.__class__ = type(
            "AvalancheMLP",
            (base, BaseModel),
            {"get_features": _features, "forward": lambda self, x, t=None: base.forward(self, x)},
        )
        return twin

    class AvalancheMultiHeadMLP(MultiTaskModule, BaseModel):
        get_features = _features

        def __init__(self, features: nn.Module):
            super().__init__()
            self.features = features
            self.classifier = MultiHeadClassifier(HIDDEN, initial_out_features=2, masking=False)

        def forward(self, x: Tensor, task_labels: Tensor) -> Tensor:
            return self.classifier(self.features(x), task_labels)

        def forward_single_task(self, x: Tensor, task_label: int) -> Tensor:
            return self.classifier.forward_single_task(self.features(x), task_label)

    twin = AvalancheMultiHeadMLP(copy.deepcopy(model.features))
    for experience in benchmark.train_stream:
        twin.classifier.adaptation(experience)
    with torch.no_grad():
        for task, head in model.classifier.heads.items():
            theirs = twin.classifier.classifiers[task].classifier
            theirs.weight.copy_(head.weight)
            theirs.bias.copy_(head.bias)
    return twin


class AvalancheLatentMLP(nn.Module):
    """The interface Avalanche's AR1 expects of its MobilenetV1 (lat_features,
    end_features, output; latent activations joined after lat_features), around the
    parity MLP: its features below the cut, its classifier above."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.lat_features, self.end_features = model.features, nn.Sequential()
        self.output = model.classifier

    def forward(
        self, x: Tensor, latent_input: Tensor | None = None, return_lat_acts: bool = False
    ) -> Any:
        if latent_input is None:
            latent = current = self.lat_features(x)
        else:
            with torch.no_grad():
                current = self.lat_features(x)
            latent = torch.cat((current, latent_input))
        logits = self.output(self.end_features(latent))
        return (logits, current) if return_lat_acts else logits


def _features(model: nn.Module, x: Tensor) -> Tensor:
    return model.features(x)


# --- runs -------------------------------------------------------------------------------


@dataclass
class Result:
    library: str
    strategy: str
    scenario: str
    optimizer: str
    seed: int
    accuracy: float = math.nan  # the library's own pooled stream accuracy
    argmax_accuracy: float = math.nan  # the shared hand-written loop
    cpu_seconds: float = math.nan
    error: str = ""
    key: str = ""
    source: str = ""
    commit: str = ""  # clhost's HEAD, "+dirty" when the strategy's sources had edits
    extra: dict[str, Any] = field(default_factory=dict)


FIELDS = set(Result.__dataclass_fields__)


def generator_default(parameter: str) -> Any:
    """A default of clhost's ``GenerativeReplay`` (one source for both sides)."""
    from clhost_generative_replay import GenerativeReplay

    return inspect.signature(GenerativeReplay.__init__).parameters[parameter].default


def generator_vae() -> nn.Module:
    """The VAE clhost's ``GenerativeReplay`` builds by default for the digits (inputs in
    [0, 1]); both libraries train one built right after seeding, so the same weights."""
    from clhost_generative_replay import VAE

    latent, hidden = generator_default("latent_dim"), generator_default("generator_hidden_sizes")
    return VAE((INPUT,), latent, hidden, bounded_inputs=True)


def run_clhost(
    name: str, scenario: Scenario, model: nn.Module, optimizer: str, seed: int
) -> tuple[float, float, float]:
    """Train clhost's ``name``; (pooled accuracy, argmax accuracy, CPU seconds)."""
    from clhost import registry

    pair = STRATEGIES[name]
    cls = registry.load("strategy", name)
    kwargs = pair.clhost_kwargs(scenario.name)
    if name == "scr":
        from clhost_scr.augment import make_augmentations

        kwargs["augmentations"] = make_augmentations("noise")
    online = scenario.name == "online"
    seed_everything(seed)
    if name == "generative-replay":
        kwargs["generator"] = generator_vae()  # drawn first after seeding, as Avalanche's
    settings = {
        "train_mb_size": ONLINE_SIZE if online else BATCH,
        "train_epochs": 1 if online else EPOCHS,
        "eval_mb_size": EVAL_BATCH,
        "device": "cpu",
    }
    if name == "streaming-lda":  # the model's features are the frozen extractor
        strategy = cls(slda_model=model.features, **{**settings, **kwargs})
    else:
        model = pnn_model("clhost", seed) if name == "pnn" else model
        if name == "expert-gate":
            from clhost_expert_gate import ExpertGate

            model = ExpertGate(expert_gate_backbone(seed), num_classes=CLASSES)
        strategy = cls(
            model=model,
            optimizer=OPTIMIZERS[optimizer].make(model.parameters()),
            **{**settings, **kwargs},  # a pair may match a setting Avalanche overrides
        )
    stream = scenario.train_stream
    steps = [stream] if getattr(strategy, "trains_on_whole_stream", False) else list(stream)
    start = time.process_time()
    for step in steps:
        strategy.train(step)
    cpu = time.process_time() - start
    result = strategy.eval(scenario.benchmark.test_stream)
    accuracy = result.metrics["accuracy_pooled"]
    return accuracy, argmax_accuracy(strategy.model, scenario.test, scenario.multi_task), cpu


def _patch_avalanche() -> None:
    """Avalanche 0.6.0's BiC passes ``verbose`` to ``MultiStepLR``, which torch 2.14 no
    longer takes: give its module a ``MultiStepLR`` that drops it."""
    import avalanche.training.plugins.bic as bic

    if getattr(bic.MultiStepLR, "_parity_shim", False):
        return

    class MultiStepLR(torch.optim.lr_scheduler.MultiStepLR):
        _parity_shim = True

        def __init__(self, *args: Any, verbose: Any = None, **kwargs: Any):
            super().__init__(*args, **kwargs)

    bic.MultiStepLR = MultiStepLR


def import_avalanche() -> Any:
    """``avalanche``, or a one-line ``SystemExit`` saying how to get it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import avalanche
            import avalanche.training  # noqa: F401
    except ImportError as error:
        raise SystemExit(
            f"parity.py needs avalanche-lib=={AVALANCHE_VERSION} ({error}); run it with the "
            "Avalanche environment described in benchmarks/README.md"
        ) from None
    _patch_avalanche()
    return avalanche


def avalanche_benchmark(scenario: Scenario) -> Any:
    """Avalanche's benchmark of the same tensors, with the class bookkeeping its iCaRL
    reads (``n_classes_per_exp``, ``classes_order``)."""
    from avalanche.benchmarks.scenarios.deprecated.generators import tensors_benchmark

    benchmark = tensors_benchmark(
        train_tensors=tensor_lists(scenario.train),
        test_tensors=tensor_lists(scenario.test),
        task_labels=scenario.task_labels,
    )
    classes = [e.classes_in_this_experience for e in scenario.benchmark.train_stream]
    benchmark.n_classes_per_exp = [len(c) for c in classes]
    benchmark.classes_order = [c for group in classes for c in group]
    benchmark.n_classes = len(set(benchmark.classes_order))
    return benchmark


def _avalanche_strategy(
    name: str, scenario: str, model: nn.Module, optimizer: Any, common: dict[str, Any]
) -> Any:
    import avalanche.training as training
    from avalanche.training import plugins as avl_plugins

    pair = STRATEGIES[name]
    kwargs = pair.avalanche_kwargs(scenario)
    cls_name = pair.avalanche
    if cls_name.startswith("Naive+"):
        plugin_cls = getattr(avl_plugins, cls_name.split("+", 1)[1])
        if "name_ext_layer" in kwargs:
            kwargs["name_ext_layer"] = AVALANCHE_LAYER.get(kwargs["name_ext_layer"])
        plugin = plugin_cls(**kwargs)
        return training.Naive(
            model=model,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            plugins=[plugin],
            **common,
        )
    if "." in cls_name:  # a strategy Avalanche does not export from avalanche.training
        module, _, attribute = cls_name.rpartition(".")
        cls = getattr(importlib.import_module(f"avalanche.training.{module}"), attribute)
    else:
        cls = getattr(training, cls_name)
    criterion = inspect.signature(cls.__init__).parameters.get("criterion")
    if criterion is not None and criterion.default is inspect.Parameter.empty:
        common = {**common, "criterion": nn.CrossEntropyLoss()}
    if name == "icarl":
        return cls(
            feature_extractor=model.features,
            classifier=model.classifier,
            optimizer=optimizer,
            **kwargs,
            **common,
        )
    if name == "scr":
        from avalanche.models import SCRModel
        from avalanche.training.plugins.cope import L2Normalization

        from clhost_scr.augment import make_augmentations
        from clhost_scr.model import projection_head

        head = projection_head(HIDDEN)  # drawn as clhost's: first, right after seeding
        # the paper's embedding is on the unit sphere (SupCon's normalize(head(.))); given
        # a bare head, Avalanche's SCRModel hands SCRLoss its unnormalised output
        scr_model = SCRModel(model.features, nn.Sequential(*head, L2Normalization()))
        optimizer = type(optimizer)(scr_model.parameters(), **optimizer.defaults)
        return cls(
            model=scr_model,
            optimizer=optimizer,
            augmentations=make_augmentations("noise"),
            **kwargs,
            **common,
        )
    if name == "streaming-lda":
        return cls(slda_model=model.features, **kwargs, **common)
    if name == "generative-replay":
        from avalanche.training import VAETraining
        from avalanche.training.plugins import GenerativeReplayPlugin

        vae = generator_vae()
        generator = VAETraining(
            model=vae,
            optimizer=torch.optim.Adam(vae.parameters(), lr=generator_default("generator_lr")),
            criterion=lambda x, output: vae.loss(output, x),
            train_mb_size=common["train_mb_size"],
            train_epochs=generator_default("generator_epochs"),
            device="cpu",
            evaluator=common["evaluator"].__class__(loggers=[]),
            plugins=[GenerativeReplayPlugin(**kwargs)],
        )
        return cls(
            model=model, optimizer=optimizer, generator_strategy=generator, **kwargs, **common
        )
    if name == "expert-gate":
        return _avalanche_expert_gate(cls, model, optimizer, kwargs, common)
    if name == "ar1":
        import avalanche.training.supervised.ar1 as avalanche_ar1

        # Avalanche's AR1 builds its own (downloaded) MobilenetV1: hand it the MLP instead
        avalanche_ar1.MobilenetV1 = lambda **_: AvalancheLatentMLP(model)  # type: ignore[attr-defined]
        return cls(**kwargs, **common)
    return cls(model=model, optimizer=optimizer, **kwargs, **common)


def _avalanche_expert_gate(
    cls: Any,
    backbone: nn.Module,
    optimizer: Any,
    kwargs: dict[str, Any],
    common: dict[str, Any],
) -> Any:
    """Avalanche's Expert Gate on the parity backbone: its torchvision models (AlexNet,
    weights never downloaded) and its autoencoders' AlexNet shape patched."""
    import types

    import avalanche.models.expert_gate as avalanche_models
    import avalanche.training.supervised.expert_gate as avalanche_eg

    avalanche_models.models = types.SimpleNamespace(
        alexnet=lambda **_: AvalancheAlexNetMLP(backbone)
    )
    autoencoder = avalanche_models.ExpertAutoencoder
    avalanche_eg.ExpertAutoencoder = lambda shape, **rest: autoencoder(  # type: ignore[misc]
        shape=(HIDDEN,), pretrained_flag=False, **rest
    )
    model = avalanche_models.ExpertGate(shape=(INPUT,), device="cpu", pretrained_flag=False)
    return cls(
        model=model,
        optimizer=type(optimizer)(model.parameters(), **optimizer.defaults),
        ae_latent_dim=100,
        temp=2,
        **kwargs,
        **{**common, "eval_mb_size": 1},
    )


def run_avalanche(
    name: str, scenario: Scenario, model: nn.Module, optimizer: str, seed: int
) -> tuple[float, float, float]:
    """Train Avalanche's counterpart of ``name``; (pooled accuracy, argmax accuracy, CPU
    seconds)."""
    from avalanche.benchmarks.scenarios.online import split_online_stream
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import JointTraining
    from avalanche.training.plugins import EvaluationPlugin

    benchmark = avalanche_benchmark(scenario)
    if name == "expert-gate":
        model = expert_gate_backbone(seed)
    else:
        model = pnn_model("avalanche", seed) if name == "pnn" else avalanche_model(model, benchmark)
    online = scenario.name == "online"
    common: dict[str, Any] = dict(
        train_mb_size=ONLINE_SIZE if online else BATCH,
        train_epochs=1 if online else EPOCHS,
        eval_mb_size=EVAL_BATCH,
        device="cpu",
        evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
    )
    seed_everything(seed)
    strategy = _avalanche_strategy(
        name, scenario.name, model, OPTIMIZERS[optimizer].make(model.parameters()), common
    )
    stream: Any = benchmark.train_stream
    if online:
        stream = split_online_stream(
            stream, ONLINE_SIZE, shuffle=False, access_task_boundaries=True
        )
    steps = [stream] if isinstance(strategy, JointTraining) else stream
    start = time.process_time()
    for step in steps:
        strategy.train(step)
    cpu = time.process_time() - start
    metrics = strategy.eval(benchmark.test_stream)
    keys = [k for k in metrics if k.startswith("Top1_Acc_Stream/eval_phase/test_stream")]
    if len(keys) != 1:
        raise RuntimeError(f"expected one Top1_Acc_Stream metric, got {keys}")
    return (
        float(metrics[keys[0]]),
        argmax_accuracy(strategy.model, scenario.test, scenario.multi_task),
        cpu,
    )


# --- cache ------------------------------------------------------------------------------


def plugin_folder(distribution: str) -> Path:
    """``plugins/<distribution>`` of a first-party distribution (normalised name)."""
    return ROOT / "plugins" / re.sub(r"[-_.]+", "-", distribution).lower()


def source_hash(name: str) -> str:
    """A hash of the sources of the clhost distribution of strategy ``name`` and of the
    clhost-* distributions it requires (its buffers, losses, plugins)."""
    from clhost import registry

    seen: set[str] = set()
    todo = [registry.get_entry("strategy", name).distribution]
    digest = hashlib.sha256()
    while todo:
        dist = todo.pop()
        folder = plugin_folder(dist)
        if folder.name in seen or folder.name == "clhost":
            continue
        seen.add(folder.name)
        for path in sorted((folder / "src").rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        for requirement in metadata.requires(dist) or []:
            match = re.match(r"\s*(clhost[-_.][A-Za-z0-9_.-]+)", requirement)
            if match:
                todo.append(match.group(1))
    return digest.hexdigest()[:16]


def clhost_commit(name: str) -> str:
    """The short HEAD commit, with ``+dirty`` when the strategy's distribution has
    uncommitted edits (the source hash still tells which sources ran)."""
    from clhost import registry

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    folder = plugin_folder(registry.get_entry("strategy", name).distribution)
    return head + ("+dirty" if head and git("status", "--porcelain", "--", str(folder)) else "")


def cache_key(
    library: str, name: str, scenario: str, optimizer: str, seed: int, source: str
) -> str:
    pair = asdict(STRATEGIES[name])
    online = pair.pop("online")  # in the key only where used: other keys stay as they were
    if online and scenario == "online":
        pair["online"] = online
    settings = json.dumps(
        [pair, BATCH, EPOCHS, HIDDEN, ONLINE_SIZE, OPTIMIZERS[optimizer].label],
        sort_keys=True,
        default=repr,
    )
    text = "|".join([library, name, scenario, optimizer, str(seed), source, settings])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_cache(path: Path) -> dict[str, Result]:
    results: dict[str, Result] = {}
    if not path.exists():
        return results
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            known = {k: (math.nan if v is None else v) for k, v in record.items() if k in FIELDS}
            results[record["key"]] = Result(**known)
        except (ValueError, TypeError, KeyError):
            continue  # a line cut by a killed run
    return results


def append_cache(path: Path, result: Result) -> None:
    record = {
        k: (None if isinstance(v, float) and math.isnan(v) else v)
        for k, v in asdict(result).items()
    }
    with path.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# --- the matrix -------------------------------------------------------------------------


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


def run_one(library: str, name: str, scenario: Scenario, optimizer: str, seed: int) -> Result:
    result = Result(library, name, scenario.name, optimizer, seed)
    runner = run_clhost if library == "clhost" else run_avalanche
    model = make_model(scenario, seed)
    try:
        quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
        with quiet[0], quiet[1], warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result.accuracy, result.argmax_accuracy, result.cpu_seconds = runner(
                name, scenario, model, optimizer, seed
            )
    except Exception as error:  # recorded in the table, never hidden
        result.error = first_line(error)
        if os.environ.get("PARITY_TRACEBACK"):
            traceback.print_exc()
    return result


def run_matrix(
    names: Sequence[str],
    scenarios: Sequence[str],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    *,
    fresh: bool,
    cached_only: bool = False,
    cache: Path = CACHE,
) -> list[Result]:
    """Every result, from the cache where its key is there, else run and appended to it:
    interleaved per strategy and seed (clhost, then Avalanche). ``cached_only`` runs
    nothing: a cell whose sources changed since gets its latest cached result under the
    same settings (its commit says which), a cell never run is left out."""
    cached = {} if fresh else read_cache(cache)
    latest = {
        (r.library, r.strategy, r.scenario, r.optimizer, r.seed): r
        for r in cached.values()
        if r.strategy in STRATEGIES
        and r.optimizer in OPTIMIZERS
        and r.key == cache_key(r.library, r.strategy, r.scenario, r.optimizer, r.seed, r.source)
    }
    hashes = {name: source_hash(name) for name in names}
    commits: dict[str, str] = {}
    results = []
    for scenario_name in scenarios:
        for optimizer in optimizers:
            for name in names:
                if scenario_name not in ONLY_IN.get(name, (scenario_name,)):
                    continue
                for seed in seeds:
                    scenario = None
                    for library in ("clhost", "avalanche"):
                        source = hashes[name] if library == "clhost" else AVALANCHE_VERSION
                        key = cache_key(library, name, scenario_name, optimizer, seed, source)
                        if cached_only:
                            cell = (library, name, scenario_name, optimizer, seed)
                            found = cached.get(key) or latest.get(cell)
                            results.extend([found] if found else [])
                            continue
                        if key in cached and not cached[key].error:  # errors run again
                            results.append(cached[key])
                            continue
                        scenario = scenario or make_scenario(scenario_name, seed)
                        result = run_one(library, name, scenario, optimizer, seed)
                        result.key, result.source = key, source
                        if library == "clhost":
                            result.commit = commits.setdefault(name, clhost_commit(name))
                        append_cache(cache, result)
                        results.append(result)
                        print(
                            f"{scenario_name} {optimizer} {name} seed {seed} {library}: "
                            f"acc {result.accuracy:.3f} cpu {result.cpu_seconds:.2f}s "
                            f"{result.error}",
                            file=sys.stderr,
                            flush=True,
                        )
    return results


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def table(results: Sequence[Result], scenario: str, optimizer: str, names: Sequence[str]) -> str:
    """The Markdown table of one scenario and optimizer."""
    lines = [
        f"### {scenario}, {OPTIMIZERS[optimizer].label}",
        "",
        "| strategy | clhost | Avalanche | difference | CPU ratio clhost/Avalanche | seeds "
        "| clhost commit | flag, notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        if scenario not in ONLY_IN.get(name, (scenario,)):
            lines.append(f"| {name} | | | | | | | not compared here: {ONLY_WHY[name]} |")
            continue
        rows = [
            r
            for r in results
            if r.strategy == name and r.scenario == scenario and r.optimizer == optimizer
        ]
        ours = [r for r in rows if r.library == "clhost"]
        theirs = [r for r in rows if r.library == "avalanche"]
        if not ours and not theirs:
            continue
        notes = []
        for label, side in (("clhost", ours), ("Avalanche", theirs)):
            errors = [r.error for r in side if r.error]
            if errors:
                kind = (
                    "refuses" if label == "clhost" and errors[0].startswith(REFUSALS) else "error"
                )
                notes.append(f"{label} {kind} ({len(errors)} of {len(side)}): {errors[0][:120]}")
            if name not in OWN_PREDICTION:
                off = [
                    r for r in side if not r.error and abs(r.accuracy - r.argmax_accuracy) > 0.005
                ]
                if off:
                    notes.append(f"{label}: argmax loop differs ({off[0].argmax_accuracy:.3f})")
        ok_ours = [r for r in ours if not r.error]
        ok_theirs = [r for r in theirs if not r.error]
        a, b = _mean([r.accuracy for r in ok_ours]), _mean([r.accuracy for r in ok_theirs])
        cpu_a, cpu_b = (
            _mean([r.cpu_seconds for r in ok_ours]),
            _mean([r.cpu_seconds for r in ok_theirs]),
        )
        difference = a - b
        ratio = cpu_a / cpu_b if cpu_b else math.nan
        flags = []
        failed = [r for r in ours if r.error and not r.error.startswith(REFUSALS)]
        if ok_theirs and (failed or any(math.isnan(r.accuracy) for r in ok_ours)):
            flags.append("**clhost failed**")
        if difference < DIFF_FLAG:
            flags.append("**accuracy**")
        if ratio > RATIO_FLAG:
            flags.append("**slower**")
        seeds = f"{len(ok_ours)}/{len(ok_theirs)}"
        lines.append(
            f"| {name} | {_fmt(a)} | {_fmt(b)} | {_fmt(difference, sign=True)} | {_fmt(ratio, 2)} "
            f"| {seeds} | {', '.join(sorted({r.commit for r in ours if r.commit}))} "
            f"| {'; '.join(flags + notes)} |"
        )
    return "\n".join(lines)


def _fmt(value: float, digits: int = 3, sign: bool = False) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def settings_table(names: Sequence[str]) -> str:
    lines = [
        "| strategy | Avalanche | parameters (clhost = Avalanche: value) | notes |",
        "|---|---|---|---|",
    ]
    for name in names:
        pair = STRATEGIES[name]
        params = ", ".join(_setting(ours, theirs, value) for ours, theirs, value in pair.params)
        if pair.online:
            online = ", ".join(_setting(*setting) for setting in pair.online)
            params = f"{params}; online also: {online}"
        lines.append(f"| {name} | {pair.avalanche} | {params} | {pair.note} |")
    return "\n".join(lines)


def _setting(ours: str, theirs: str, value: Any) -> str:
    if ours == theirs:
        return f"{ours}={value!r}"
    if not theirs:
        return f"{ours}={value!r} (clhost only)"
    if not ours:
        return f"{theirs}={value!r} (Avalanche only)"
    return f"{ours} = {theirs}: {value!r}"


def parse_list(text: str, allowed: Sequence[str], what: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return values


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, class-il and domain-il, plain SGD"
    )
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--scenarios", default=None, help=f"default: {','.join(SCENARIOS)}")
    parser.add_argument("--optimizers", default=None, help=f"default: {','.join(OPTIMIZERS)}")
    parser.add_argument("--seeds", default=None, help="default: 0,1,2")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--fresh", action="store_true", help="ignore the cache (results are still added)"
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="run nothing: tables from the cache (a changed strategy's latest results)",
    )
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    names = parse_list(args.strategies, list(STRATEGIES), "strategy")
    scenarios = parse_list(
        args.scenarios or ("class-il,domain-il" if args.quick else ",".join(SCENARIOS)),
        SCENARIOS,
        "scenario",
    )
    optimizers = parse_list(
        args.optimizers or ("sgd" if args.quick else ",".join(OPTIMIZERS)),
        list(OPTIMIZERS),
        "optimizer",
    )
    try:
        seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    except ValueError:
        raise SystemExit(
            f"--seeds takes integers separated by commas, got {args.seeds!r}"
        ) from None
    import_avalanche()
    torch.set_num_threads(1)
    results = run_matrix(
        names,
        scenarios,
        optimizers,
        seeds,
        fresh=args.fresh,
        cached_only=args.cached_only,
        cache=args.cache,
    )
    parts = [
        f"Seeds {seeds}; mean final accuracy on the whole test stream (pooled); flagged: "
        f"difference < {DIFF_FLAG} or CPU ratio > {RATIO_FLAG}. Seeds column: runs without "
        "error, clhost/Avalanche.",
    ]
    parts += [table(results, s, o, names) for s in scenarios for o in optimizers]
    parts.append("Settings:\n\n" + settings_table(names))
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
