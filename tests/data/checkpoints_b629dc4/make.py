"""How the checkpoints beside this file were written, by clhost at commit b629dc4 (before
the authoring kit declared state keys): run from a checkout of that commit with its host
and plugins first on PYTHONPATH, ``python make.py OUTPUT_DIR``. Kept for the record; the
test reads the files it wrote."""

import sys
from pathlib import Path

import torch

from clhost.checkpoint import save_checkpoint
from clhost.models import SimpleMLP
from clhost.testing import toy_benchmark
from clhost_buffer_class_balanced import ClassBalancedBuffer
from clhost_cope import CoPE
from clhost_der import DER
from clhost_ewc import EWC
from clhost_icarl import ICaRL
from clhost_replay import Replay

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
bench = toy_benchmark(n_experiences=2, n_per_class=10, n_features=4)


def common(model):
    return dict(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        train_mb_size=8,
        train_epochs=1,
        evaluator=None,
    )


def model(n=4):
    torch.manual_seed(0)
    return SimpleMLP(num_classes=n, input_size=4, hidden_sizes=(8,))


builders = {
    "replay": lambda: Replay(mem_size=6, buffer=ClassBalancedBuffer(max_size=6), **common(model())),
    "ewc": lambda: EWC(ewc_lambda=10.0, **common(model())),
    "cope": lambda: CoPE(mem_size=6, n_classes=4, p_size=4, **common(model(4))),
    "icarl": lambda: ICaRL(memory_size=6, **common(model())),
    "der": lambda: DER(mem_size=6, **common(model())),
}
for name, build in builders.items():
    torch.manual_seed(1)
    strategy = build()
    strategy.train(bench.train_stream[0])
    save_checkpoint(strategy, out / f"{name}.pt", 1)
