"""Avalanche-style script: the strategies that need more than a model and an optimizer
(iCaRL's split model, SLDA's frozen extractor, CWR*'s layer name, joint training, BiC's
second stage, ...) on the 3-experience class-incremental stream of ``strategies.py``.

PNNStrategy learns the same stream with task labels (a column per task), CoPE its online
version (mini-experiences of 10 samples). Prints one line per strategy:
``RESULT <name> <stream accuracy> <seconds>``.
"""

import sys
import time

import torch
from _data import blobs, patch_bic_scheduler
from avalanche.benchmarks import nc_benchmark, split_online_stream
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.models import PNN, SCRModel, SimpleMLP
from avalanche.training import (
    MER,
    MIR,
    SCR,
    BiC,
    CoPE,
    CWRStar,
    FromScratchTraining,
    GSS_greedy,
    ICaRL,
    JointTraining,
    PNNStrategy,
    StreamingLDA,
)
from avalanche.training.plugins import EvaluationPlugin

patch_bic_scheduler()
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
train = torch.utils.data.TensorDataset(*blobs(seed=seed))
test = torch.utils.data.TensorDataset(*blobs(n_per_class=30, seed=seed + 100))
train.targets, test.targets = train.tensors[1], test.tensors[1]
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])
tasks = nc_benchmark(train, test, 3, task_labels=True, fixed_class_order=[0, 1, 2, 3, 4, 5])


ONLINE = {"train_mb_size": 10, "train_epochs": 1}


class Normalize(torch.nn.Module):
    """The unit-sphere embedding SCR's projection head ends with."""

    def forward(self, x):
        return torch.nn.functional.normalize(x, dim=1)


def icarl(model, optimizer, **common):
    return ICaRL(
        feature_extractor=model.features,
        classifier=model.classifier,
        optimizer=optimizer,
        memory_size=60,
        buffer_transform=None,
        fixed_memory=True,
        **common,
    )


def slda(model, optimizer, **common):
    return StreamingLDA(
        slda_model=model.features,
        criterion=torch.nn.CrossEntropyLoss(),
        input_size=64,
        num_classes=6,
        **common,
    )


def scr(model, optimizer, **common):
    head = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), Normalize()
    )
    scr_model = SCRModel(model.features, head)
    return SCR(
        model=scr_model,
        optimizer=torch.optim.SGD(scr_model.parameters(), lr=0.05),
        mem_size=60,
        batch_size_mem=16,
        **common,
    )


def pnn(model, optimizer, **common):
    model = PNN(num_layers=1, in_features=16, hidden_features_per_column=64)
    return PNNStrategy(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        criterion=torch.nn.CrossEntropyLoss(),
        **common,
    )


def supervised(cls, **extra):
    def build(model, optimizer, **common):
        return cls(
            model=model,
            optimizer=optimizer,
            criterion=torch.nn.CrossEntropyLoss(),
            **extra,
            **common,
        )

    return build


for name, make, options in (
    ("ICaRL", icarl, {}),
    ("JointTraining", supervised(JointTraining), {}),
    ("FromScratchTraining", supervised(FromScratchTraining), {}),
    ("CWRStar", supervised(CWRStar, cwr_layer_name="classifier"), {}),
    ("MIR", supervised(MIR, mem_size=60, subsample=30, batch_size_mem=10), {}),
    ("BiC", supervised(BiC, mem_size=60, stage_2_epochs=20), {}),
    ("GSS_greedy", supervised(GSS_greedy, mem_size=60, mem_strength=5, input_size=[16]), {}),
    ("CoPE", supervised(CoPE, mem_size=60, n_classes=6, p_size=6), ONLINE),
    ("StreamingLDA", slda, {}),
    ("SCR", scr, {}),
    ("PNNStrategy", pnn, {}),
    ("MER", supervised(MER, mem_size=60, batch_size_mem=10, n_inner_steps=2), {}),
):
    torch.manual_seed(seed)
    model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
    common = {
        "train_mb_size": 16,
        "train_epochs": 3,
        "eval_mb_size": 64,
        "evaluator": EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
        **options,
    }
    strategy = make(model, torch.optim.SGD(model.parameters(), lr=0.05), **common)
    start = time.perf_counter()
    scenario = tasks if name == "PNNStrategy" else benchmark  # a column per task
    if name == "JointTraining":
        strategy.train(scenario.train_stream)
    else:
        stream = scenario.train_stream
        if name == "CoPE":  # an online method: one update per mini-experience
            stream = split_online_stream(stream, 10, shuffle=False)
        for experience in stream:
            strategy.train(experience)
    results = strategy.eval(scenario.test_stream)
    seconds = time.perf_counter() - start
    per_task = [v for k, v in results.items() if k.startswith("Top1_Acc_Stream/eval_phase/")]
    accuracy = sum(per_task) / len(per_task)  # PNN's stream has one value per task
    print(f"RESULT {name} {accuracy:.4f} {seconds:.2f}")
