"""Deep Streaming Linear Discriminant Analysis (Hayes & Kanan, CVPR-W 2020) for clhost."""

from clhost_streaming_lda.model import StreamingLDAClassifier, StreamingLDAModel
from clhost_streaming_lda.strategy import StreamingLDA

__all__ = ["StreamingLDA", "StreamingLDAClassifier", "StreamingLDAModel"]
