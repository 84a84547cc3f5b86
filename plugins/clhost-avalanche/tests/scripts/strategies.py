"""Avalanche-style script: a dozen strategies on a 3-experience class-incremental stream.

Prints one line per strategy: ``RESULT <name> <stream accuracy> <seconds>``.
"""

import sys
import time

import torch
from _data import blobs
from avalanche.benchmarks import nc_benchmark
from avalanche.evaluation.metrics import accuracy_metrics, loss_metrics
from avalanche.models import SimpleMLP
from avalanche.training import (
    AGEM,
    DER,
    ER_ACE,
    EWC,
    GEM,
    LFL,
    MAS,
    Cumulative,
    GDumb,
    LwF,
    Naive,
    Replay,
    SynapticIntelligence,
)
from avalanche.training.plugins import EvaluationPlugin

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
torch.manual_seed(seed)
train = torch.utils.data.TensorDataset(*blobs(seed=seed))
test = torch.utils.data.TensorDataset(*blobs(n_per_class=30, seed=seed + 100))
train.targets, test.targets = train.tensors[1], test.tensors[1]
benchmark = nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[0, 1, 2, 3, 4, 5])

for name, cls, extra in (
    ("Naive", Naive, {}),
    ("Cumulative", Cumulative, {}),
    ("Replay", Replay, {"mem_size": 60}),
    ("GDumb", GDumb, {"mem_size": 60}),
    ("DER", DER, {"mem_size": 60, "alpha": 0.1, "beta": 0.5}),
    ("ER_ACE", ER_ACE, {"mem_size": 60}),
    ("EWC", EWC, {"ewc_lambda": 10.0}),
    ("SynapticIntelligence", SynapticIntelligence, {"si_lambda": 1.0}),
    ("MAS", MAS, {"lambda_reg": 1.0}),
    ("LwF", LwF, {"alpha": 1.0, "temperature": 2.0}),
    ("LFL", LFL, {"lambda_e": 0.1}),
    ("AGEM", AGEM, {"patterns_per_exp": 30, "sample_size": 30}),
    ("GEM", GEM, {"patterns_per_exp": 30, "memory_strength": 0.5}),
):
    torch.manual_seed(seed)
    model = SimpleMLP(num_classes=6, input_size=16, hidden_size=64, drop_rate=0.0)
    evaluator = EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True), loss_metrics(stream=True), loggers=[]
    )
    strategy = cls(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        criterion=torch.nn.CrossEntropyLoss(),
        train_mb_size=16,
        train_epochs=3,
        eval_mb_size=64,
        evaluator=evaluator,
        **extra,
    )
    start = time.perf_counter()
    for experience in benchmark.train_stream:
        strategy.train(experience)
    results = strategy.eval(benchmark.test_stream)
    seconds = time.perf_counter() - start
    accuracy = results["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
    print(f"RESULT {name} {accuracy:.4f} {seconds:.2f}")
