"""Column encoders: a feature column's raw values -> the numbers a model reads, fitted on training nodes only.

Each encoder meets :class:`ColumnEncoder`: ``fit`` on the training nodes' values, ``transform`` any
values (new items at serving time too), and ``state`` / ``from_state`` as JSON plus tensors, so an
export can rebuild it without pickle. Values arrive checked (:mod:`recsys_pyg.data.features` names
the file, row and column of a bad one): numbers for ``numeric``, lists of numbers for ``vector``,
strings for ``categorical`` and ``text``.

- :class:`Standardize` (numeric): ``(x - mean) / std``, statistics of the training nodes, ``(N, 1)``.
- :class:`Categories` (categorical): an index per category seen in training, ``0`` reserved for
  any other (unknown) category, ``(N,)`` long; the model learns an embedding per index.
- :class:`TfidfText` / :class:`HashingText` (text): scikit-learn's TF-IDF (vocabulary and IDF of
  the training nodes) or hashing vectoriser (stateless), ``(N, V)``; no download.
- :class:`Vectors` (vector): precomputed vectors as they are, ``(N, width)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor


@runtime_checkable
class ColumnEncoder(Protocol):
    """Turns one column's values into model inputs.

    ``output`` is ``"dense"`` (``transform`` gives ``(N, width)`` float32, concatenated with the other
    dense columns and projected) or ``"categorical"`` (``(N,)`` long indices in ``[0, cardinality)``,
    each column its own learned embedding).
    """

    output: ClassVar[str]

    def fit(self, values: Sequence[Any]) -> None:
        """Learn the encoder's statistics from the training nodes' values."""
        ...

    def transform(self, values: Sequence[Any]) -> Tensor:
        """``(N, width)`` float32, or ``(N,)`` long for a categorical encoder."""
        ...

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """What rebuilds the fitted encoder: plain JSON values and tensors (nothing executable)."""
        ...

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> ColumnEncoder:
        """The fitted encoder back from :meth:`state`."""
        ...


class Standardize:
    """A numeric column standardised with the training nodes' mean and standard deviation ``(N, 1)``.

    A constant column (standard deviation 0) is only centred.
    """

    output: ClassVar[str] = "dense"

    def __init__(self) -> None:
        self.mean, self.std = 0.0, 1.0

    def fit(self, values: Sequence[float]) -> None:
        x = torch.tensor(values, dtype=torch.float64)
        self.mean = float(x.mean()) if x.numel() else 0.0
        std = float(x.std(unbiased=False)) if x.numel() else 0.0
        self.std = std if std > 0 else 1.0

    def transform(self, values: Sequence[float]) -> Tensor:
        x = torch.tensor(values, dtype=torch.float64)
        return ((x - self.mean) / self.std).float()[:, None]  # (N, 1)

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return {"mean": self.mean, "std": self.std}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> Standardize:
        enc = cls()
        enc.mean, enc.std = float(config["mean"]), float(config["std"])
        return enc


class Categories:
    """A categorical column as indices: ``1..n`` for the categories of the training nodes (sorted),
    ``0`` for any other: a category first seen on a new item gets the reserved index, not an error."""

    output: ClassVar[str] = "categorical"

    def __init__(self) -> None:
        self.vocabulary: list[str] = []
        self._index: dict[str, int] = {}

    @property
    def cardinality(self) -> int:
        """Indices this column can take, the reserved ``0`` included."""
        return len(self.vocabulary) + 1

    def fit(self, values: Sequence[Any]) -> None:
        self.vocabulary = sorted({str(v) for v in values})
        self._index = {v: j + 1 for j, v in enumerate(self.vocabulary)}

    def transform(self, values: Sequence[Any]) -> Tensor:
        return torch.tensor([self._index.get(str(v), 0) for v in values], dtype=torch.long)  # (N,)

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return {"vocabulary": self.vocabulary}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> Categories:
        enc = cls()
        enc.vocabulary = [str(v) for v in config["vocabulary"]]
        enc._index = {v: j + 1 for j, v in enumerate(enc.vocabulary)}
        return enc


class TfidfText:
    """A text column through scikit-learn's ``TfidfVectorizer``, its vocabulary (the ``max_features``
    most frequent terms) and IDF fitted on the training nodes' texts; rows L2-normalised, ``(N, V)``."""

    output: ClassVar[str] = "dense"

    def __init__(self, max_features: int = 512, lowercase: bool = True, min_df: int = 1) -> None:
        if int(max_features) < 1 or int(min_df) < 1:
            raise ValueError(f"max_features and min_df must be positive, got {max_features}, {min_df}")
        self.max_features, self.lowercase, self.min_df = int(max_features), bool(lowercase), int(min_df)
        self.vectorizer: Any = None

    def _params(self) -> dict[str, Any]:
        return {"max_features": self.max_features, "lowercase": self.lowercase, "min_df": self.min_df}

    def fit(self, values: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(**self._params(), dtype=np.float64)
        try:
            self.vectorizer.fit([str(v) for v in values])
        except ValueError:  # no term at all in the training texts: an empty vocabulary, zeros
            self.vectorizer = None

    def transform(self, values: Sequence[str]) -> Tensor:
        if self.vectorizer is None:
            return torch.zeros(len(values), 0)
        return torch.from_numpy(self.vectorizer.transform([str(v) for v in values]).toarray()).float()

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        if self.vectorizer is None:
            return {**self._params(), "terms": []}, {}
        terms = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.get)  # index order
        return {**self._params(), "terms": terms}, {"idf": torch.from_numpy(self.vectorizer.idf_).double()}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> TfidfText:
        from sklearn.feature_extraction.text import TfidfVectorizer

        enc = cls(config["max_features"], config["lowercase"], config["min_df"])
        if config["terms"]:
            vocabulary = {str(t): j for j, t in enumerate(config["terms"])}
            enc.vectorizer = TfidfVectorizer(vocabulary=vocabulary, lowercase=enc.lowercase, dtype=np.float64)
            enc.vectorizer.idf_ = tensors["idf"].numpy()
        return enc


class HashingText:
    """A text column through scikit-learn's ``HashingVectorizer`` (``n_features`` buckets, rows
    L2-normalised): nothing to fit, so a new item's words are never out of vocabulary, ``(N, n_features)``."""

    output: ClassVar[str] = "dense"

    def __init__(self, n_features: int = 256, lowercase: bool = True) -> None:
        if int(n_features) < 1:
            raise ValueError(f"n_features must be positive, got {n_features}")
        self.n_features, self.lowercase = int(n_features), bool(lowercase)

    def fit(self, values: Sequence[str]) -> None:
        pass

    def transform(self, values: Sequence[str]) -> Tensor:
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(n_features=self.n_features, lowercase=self.lowercase, alternate_sign=False)
        return torch.from_numpy(vec.transform([str(v) for v in values]).toarray()).float()

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return {"n_features": self.n_features, "lowercase": self.lowercase}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> HashingText:
        return cls(config["n_features"], config["lowercase"])


class Vectors:
    """Precomputed vectors (a sentence or image embedding per node) as they are, ``(N, width)``."""

    output: ClassVar[str] = "dense"

    def __init__(self) -> None:
        self.width: int | None = None

    def fit(self, values: Sequence[Sequence[float]]) -> None:
        self.width = len(values[0]) if len(values) else 0

    def transform(self, values: Sequence[Sequence[float]]) -> Tensor:
        if not len(values):
            return torch.zeros(0, self.width or 0)
        return torch.tensor([list(v) for v in values], dtype=torch.float32)  # (N, width)

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return {"width": self.width}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> Vectors:
        enc = cls()
        enc.width = config["width"]
        return enc
