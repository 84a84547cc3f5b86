"""Progressive Neural Networks (Rusu et al., 2016) for clhost."""

from clhost_pnn.model import PNN, LinearAdapter, MLPAdapter, PNNColumn
from clhost_pnn.strategy import PNNStrategy

__all__ = ["PNN", "LinearAdapter", "MLPAdapter", "PNNColumn", "PNNStrategy"]
