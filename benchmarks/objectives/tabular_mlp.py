"""The digits MLP objective on other scikit-learn *bundled* classification data (offline).

One objective family for transfer benchmarks: the network, training loop and hyperparameters of
:class:`benchmarks.objectives.digits_mlp.DigitsMLPObjective`, trained on one of

| data set          | samples | features | classes | epochs | seconds a trial |
|-------------------|---------|----------|---------|--------|-----------------|
| ``digits``        | 1797    | 64       | 10      | 10     | 0.14-0.15       |
| ``wine``          | 178     | 13       | 3       | 80     | 0.12-0.13       |
| ``breast_cancer`` | 569     | 30       | 2       | 30     | 0.10-0.13       |
| ``iris``          | 150     | 4        | 3       | 80     | 0.11-0.13       |
| ``digits_small``  | 300     | 64       | 10      | 60     | 0.13-0.16       |

(seconds: mean over 40 random configurations on one CPU thread, numeric and full spaces; single
trials up to 0.4 s, more for the first one of a process). The split is the
digits objective's: a permutation by ``default_rng(seed)``, then 60/20/20 train/validation/test.
Features are min-max scaled to [0, 1] with the training part's range (digits: divided by 16, as
in the digits objective), so the ``normalize`` choices keep their meaning on every data set:
``unit`` = [0, 1], ``raw`` = [0, 16], ``standard`` = z-scores of the training part.

The network keeps the digits objective's 10-way output layer on every data set: labels use only
the first ``n_classes`` outputs and training pushes the others down (chance-level validation
loss is ``ln(n_classes)``, the untrained network's about ``ln 10``).

Two search spaces:

- ``space="full"``: the digits objective's twelve parameters, including the categorical
  ``activation`` and ``normalize``;
- ``space="numeric"``: the ten numeric ones; ``activation`` is fixed to ``relu`` and
  ``normalize`` to ``standard`` (:data:`NUMERIC_FIXED`) and never suggested, so samplers that
  handle only numeric spaces (CMA-ES, WS-CMA-ES) see the whole space.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast

import numpy as np
import optuna
import torch

from benchmarks.objectives.digits_mlp import DigitsData
from benchmarks.objectives.digits_mlp import DigitsMLPObjective
from benchmarks.objectives.digits_mlp import load_digits_split


SPACES = ("full", "numeric")
NUMERIC_FIXED: dict[str, str] = {"activation": "relu", "normalize": "standard"}
"""The categorical parameters' values in the ``numeric`` space."""
N_OUTPUTS = 10
"""Width of the digits objective's output layer (the most classes a data set may have)."""


@dataclass(frozen=True)
class DatasetSpec:
    """A bundled data set, its default epochs and, for digits subsets, a sample count."""

    loader: str
    """Name of the ``sklearn.datasets`` loader."""
    epochs: int
    n_samples: int | None = None


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("load_digits", epochs=10),
    "wine": DatasetSpec("load_wine", epochs=80),
    "breast_cancer": DatasetSpec("load_breast_cancer", epochs=30),
    "iris": DatasetSpec("load_iris", epochs=80),
    "digits_small": DatasetSpec("load_digits", epochs=60, n_samples=300),
}


def split_arrays(
    x: np.ndarray, y: np.ndarray, seed: int, n_samples: int | None = None
) -> DigitsData:
    """The digits objective's 60/20/20 split of ``(x, y)``, features min-max scaled to [0, 1].

    The scaling uses the training part's range (constant features become 0); validation and
    test features may fall slightly outside [0, 1].
    """
    order = np.random.default_rng(seed).permutation(len(y))
    if n_samples is not None:
        order = order[:n_samples]
    n_train, n_val = int(0.6 * len(order)), int(0.2 * len(order))
    a, b = n_train, n_train + n_val
    x, y = x[order].astype(np.float64), y[order]
    low, high = x[:a].min(0), x[:a].max(0)
    x = (x - low) / np.where(high > low, high - low, 1.0)
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    return DigitsData(xt[:a], yt[:a], xt[a:b], yt[a:b], xt[b:], yt[b:])


def load_split(dataset: str, seed: int) -> DigitsData:
    """The seeded split of ``dataset`` (a key of :data:`DATASETS`)."""
    spec = _spec(dataset)
    if spec.loader == "load_digits":  # exactly the digits objective's data
        return load_digits_split(seed, spec.n_samples)
    import sklearn.datasets

    loader = cast("Callable[..., tuple[np.ndarray, np.ndarray]]",
                  getattr(sklearn.datasets, spec.loader))
    x, y = loader(return_X_y=True)
    if int(y.max()) >= N_OUTPUTS:
        raise ValueError(f"{dataset} has more than {N_OUTPUTS} classes.")
    return split_arrays(x, y, seed, spec.n_samples)


def _spec(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise ValueError(f"Unknown data set {dataset!r}; expected one of {list(DATASETS)}.")
    return DATASETS[dataset]


class _FixedChoices:
    """A trial whose ``suggest_categorical`` returns fixed values for some names.

    The fixed names are neither sampled nor recorded as parameters; every other attribute and
    call goes to the wrapped trial (reports, pruning, user attributes).
    """

    def __init__(self, trial: optuna.trial.BaseTrial, fixed: Mapping[str, Any]) -> None:
        self._trial = trial
        self._fixed = fixed

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if name in self._fixed:
            value = self._fixed[name]
            if value not in choices:
                raise ValueError(f"Fixed {name}={value!r} is not one of {list(choices)}.")
            return value
        return self._trial.suggest_categorical(name, choices)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


class TabularMLPObjective(DigitsMLPObjective):
    """``objective(trial) -> validation loss`` of the digits MLP on ``dataset``.

    Args:
        dataset: A key of :data:`DATASETS`.
        seed: Fixes the data split, the weight init, the batch order, dropout and noise.
        space: ``"full"`` (twelve parameters) or ``"numeric"`` (ten; see :data:`NUMERIC_FIXED`).
        epochs: Training epochs per trial; default: the data set's (see :data:`DATASETS`).
        device: Torch device; CUDA when available by default.
    """

    def __init__(
        self,
        dataset: str,
        *,
        seed: int,
        space: str = "full",
        epochs: int | None = None,
        device: str | None = None,
    ) -> None:
        spec = _spec(dataset)
        if space not in SPACES:
            raise ValueError(f"Unknown space {space!r}; expected one of {SPACES}.")
        digits = spec.loader == "load_digits"
        super().__init__(
            seed=seed, epochs=spec.epochs if epochs is None else epochs,
            n_samples=spec.n_samples if digits else 60, device=device,
        )
        if not digits:  # the parent loaded a small digits split; replace it
            self.data = load_split(dataset, seed)
        self.dataset = dataset
        self.space = space
        self.n_classes = int(self.data.y_train.max()) + 1
        self.fixed_params: dict[str, str] = dict(NUMERIC_FIXED) if space == "numeric" else {}

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        if self.fixed_params:
            trial = cast("optuna.trial.BaseTrial", _FixedChoices(trial, self.fixed_params))
        return super().__call__(trial)

