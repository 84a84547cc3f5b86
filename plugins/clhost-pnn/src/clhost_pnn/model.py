"""Progressive Neural Networks: a column per task, lateral connections from the earlier
columns, which are frozen when the next task starts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhost.data import Experience
from clhost.errors import ParameterError
from clhost.models import DynamicModule, MultiTaskModule, grown_linear
from clhost.validate import one_of, positive_int

ADAPTERS = ("mlp", "linear")


class MLPAdapter(nn.Module):
    """The paper's non-linear lateral connection: each earlier column's activation scaled
    by a learned scalar (initialised small and random), concatenated and projected by one
    ReLU layer ``V`` onto ``out_features`` dimensions. The layer receiving it applies
    ``U`` (its weights for these inputs)."""

    def __init__(self, in_features: int, out_features: int, num_prev_modules: int):
        super().__init__()
        self.out_features = out_features
        self.alphas = nn.Parameter(0.1 * torch.rand(num_prev_modules))
        self.V = nn.Linear(in_features * num_prev_modules, out_features)

    def forward(self, previous: list[Tensor]) -> Tensor:
        scaled = torch.cat([alpha * h for alpha, h in zip(self.alphas, previous, strict=True)], 1)
        return F.relu(self.V(scaled))


class LinearAdapter(nn.Module):
    """The paper's linear lateral connections (its Eq. 1): the earlier columns'
    activations, concatenated; the layer receiving them applies one ``U^(k:j)`` to each."""

    def __init__(self, in_features: int, num_prev_modules: int):
        super().__init__()
        self.out_features = in_features * num_prev_modules

    def forward(self, previous: list[Tensor]) -> Tensor:
        return torch.cat(previous, dim=1)


class ProgressiveLayer(nn.Module):
    """``W h + U a``: one linear map over the column's own input ``h`` and the lateral
    input ``a`` the adapter makes of the earlier columns' inputs to the same layer."""

    def __init__(self, in_features: int, out_features: int, adapter: nn.Module | None):
        super().__init__()
        self.adapter = adapter
        lateral = adapter.out_features if adapter is not None else 0
        self.linear = nn.Linear(in_features + lateral, out_features)

    def forward(self, own: Tensor, previous: list[Tensor]) -> Tensor:
        if self.adapter is not None:
            own = torch.cat((own, self.adapter(previous)), dim=1)
        return self.linear(own)


class PNNColumn(nn.Module):
    """One task's column: ``num_layers`` ReLU layers of ``hidden_features`` units and an
    output layer of one unit per class. Every layer after the first (the input is shared)
    and the output layer take lateral input from the ``num_prev_modules`` earlier columns.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int,
        num_layers: int,
        num_prev_modules: int,
        adapter: str = "mlp",
    ):
        super().__init__()

        def lateral() -> nn.Module | None:
            if num_prev_modules == 0:
                return None
            if adapter == "mlp":
                return MLPAdapter(hidden_features, hidden_features, num_prev_modules)
            return LinearAdapter(hidden_features, num_prev_modules)

        self.layers = nn.ModuleList([ProgressiveLayer(in_features, hidden_features, None)])
        self.layers.extend(
            ProgressiveLayer(hidden_features, hidden_features, lateral())
            for _ in range(num_layers - 1)
        )
        self.output = ProgressiveLayer(hidden_features, out_features, lateral())

    @property
    def out_features(self) -> int:
        return self.output.linear.out_features

    def grow(self, out_features: int) -> None:
        """Give the output layer ``out_features`` units, keeping the old ones."""
        if out_features > self.out_features:
            self.output.linear = grown_linear(self.output.linear, out_features)

    def freeze(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(False)


class PNN(MultiTaskModule, DynamicModule):
    """Progressive Neural Network (Rusu et al., 2016) for flat inputs.

    The first task seen trains the first column. Each new task label adds a column that
    reads the earlier columns' activations through lateral adapters (``adapter``:
    ``"mlp"``, the paper's non-linear one, or ``"linear"``), after freezing every earlier
    column: what a task learned is never changed again, and its outputs stay exactly what
    they were. A column's output layer grows to the classes its task brings. Training an
    experience of a task whose column is already frozen is an error; evaluating a task no
    column has learned gives all-zero scores. Minibatches mixing tasks are split by task.
    """

    def __init__(
        self,
        num_layers: int = 1,
        in_features: int = 784,
        hidden_features_per_column: int = 100,
        adapter: str = "mlp",
        initial_out_features: int = 2,
    ):
        super().__init__()
        self.num_layers = positive_int("num_layers", num_layers)
        self.in_features = positive_int("in_features", in_features)
        self.hidden_features_per_column = positive_int(
            "hidden_features_per_column", hidden_features_per_column
        )
        self.adapter = one_of("adapter", adapter, ADAPTERS)
        self.initial_out_features = positive_int("initial_out_features", initial_out_features)
        self.columns = nn.ModuleList([self._column(initial_out_features)])
        self.task_to_column: dict[int, int] = {}

    def adaptation(self, experience: Experience) -> None:
        task = experience.task_label
        column = self.task_to_column.get(task)
        if column is None:
            if self.task_to_column:  # a new task after others: freeze them, add a column
                for old in self.columns:
                    old.freeze()
                device = next(self.columns.parameters()).device
                self.columns.append(self._column(self.initial_out_features).to(device))
            column = self.task_to_column[task] = len(self.columns) - 1
        elif column != len(self.columns) - 1:
            raise ParameterError(
                f"experience {experience.current_experience} is of task {task}, whose "
                "column is frozen since a later task started: a PNN learns each task "
                "before the next"
            )
        needed = max(experience.classes_in_this_experience, default=-1) + 1
        self.columns[column].grow(needed)

    def forward_single_task(self, x: Tensor, task: int) -> Tensor:
        column = self.task_to_column.get(task)
        if column is None:
            if self.training:
                raise ParameterError(f"no column for task {task}: adapt the model first")
            return x.new_zeros(len(x), self.initial_out_features)
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ParameterError(
                f"inputs have {x.shape[1]} features but in_features is {self.in_features}"
            )
        columns = self.columns[: column + 1]
        inputs = [x] * len(columns)  # the input is shared by every column
        for depth in range(self.num_layers):
            inputs = [
                F.relu(col.layers[depth](inputs[j], inputs[:j])) for j, col in enumerate(columns)
            ]
        return columns[column].output(inputs[column], inputs[:column])

    def _column(self, out_features: int) -> PNNColumn:
        return PNNColumn(
            self.in_features,
            self.hidden_features_per_column,
            out_features,
            self.num_layers,
            num_prev_modules=len(getattr(self, "columns", ())),
            adapter=self.adapter,
        )
