"""Real training on generated data: a validation family for levers, not an evaluation task.

Levers chosen on the generated landscapes (``optuna_hypera._families``) have twice been
better there and worse on the evaluation suites' real training (the stretched trust region
and 7 startup trials, ``docs/benchmarks/stretch-validation.md``, ``startup-0.13.md``). This
family puts real training into validation without touching an evaluation task: the data are
drawn by the project (scikit-learn's ``make_classification``, a generator, not a data set),
the model and its search space are the project's own (not the digits MLP's), and task seeds
come from the validation range (9000-9999), so nothing here is a named benchmark.

Task card
---------
Stands for: tuning a small neural network on a tabular classification problem, at budgets
of 15-50 trials, with log-scale, integer and categorical parameters that interact.

Data (``task_seed``): ``make_classification`` with 600 samples, 8-40 features of which 3-12
informative and up to a quarter redundant, 2-5 classes, 1-2 clusters per class, class
separation 0.5-1.5 and 0-8% flipped labels, all drawn from ``default_rng(task_seed)``.
The objective's ``seed`` splits it 60/40 into training and validation parts (features
standardized with the training part's statistics) and seeds the network's initialization.

Model: scikit-learn's ``MLPClassifier`` (Adam, 40 epochs, no early stopping). Search space:

| parameter | kind | range |
|---|---|---|
| ``layers`` | integer | 1-3 |
| ``width`` | integer, log | 8-256 |
| ``activation`` | categorical | relu, tanh, logistic |
| ``alpha`` (L2) | float, log | 1e-6 to 1e-1 |
| ``lr`` | float, log | 1e-4 to 0.3 |
| ``batch_size`` | integer, log | 16-256 |

Loss: validation cross-entropy (lower is better), capped at ``ln(n_classes) * 3`` where
training diverges or predicts non-finite probabilities. About 0.1-0.6 s a trial on one
thread.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any
import warnings

import numpy as np
import optuna


VALIDATION_SEEDS = range(9000, 10_000)
"""Task seeds this family may use: the validation range of every generated family."""


def task_data(task_seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Features, labels and class count of task ``task_seed`` (see the module's card)."""
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(task_seed)
    n_features = int(rng.integers(8, 41))
    informative = int(rng.integers(3, min(12, n_features) + 1))
    redundant = int(rng.integers(0, max(1, (n_features - informative) // 4) + 1))
    n_classes = int(rng.integers(2, 6))
    clusters = int(rng.integers(1, 3))
    while n_classes * clusters > 2**informative:  # make_classification's own limit
        clusters = 1
        n_classes -= 1
    x, y = make_classification(
        n_samples=600, n_features=n_features, n_informative=informative,
        n_redundant=redundant, n_classes=n_classes, n_clusters_per_class=clusters,
        class_sep=float(rng.uniform(0.5, 1.5)), flip_y=float(rng.uniform(0.0, 0.08)),
        random_state=int(rng.integers(2**31 - 1)))
    return x.astype(np.float64), y.astype(np.int64), n_classes


class ValidationTraining:
    """What the generated real-training families share: validation task seeds only, a
    split of the task's data (``draw(task_seed)`` -> features, labels, classes) drawn by the
    run's ``seed`` with ``n_train`` points for training and features standardized with their
    statistics, and the validation cross-entropy as the loss, capped at ``3 ln(classes)``."""

    direction = "minimize"
    loss_label = "validation loss"
    score_label: str | None = "validation accuracy"

    def __init__(self, task_seed: int, seed: int,
                 draw: Callable[[int], tuple[np.ndarray, np.ndarray, int]],
                 n_train: Callable[[int], int]) -> None:
        if task_seed not in VALIDATION_SEEDS:
            raise ValueError(f"task_seed {task_seed} is outside the validation range "
                             f"{VALIDATION_SEEDS.start}-{VALIDATION_SEEDS.stop - 1}.")
        x, y, self.n_classes = draw(task_seed)
        order = np.random.default_rng(seed).permutation(len(y))
        cut = n_train(len(y))
        train, valid = order[:cut], order[cut:]
        mean, sd = x[train].mean(0), x[train].std(0) + 1e-12
        self.x_train, self.y_train = (x[train] - mean) / sd, y[train]
        self.x_valid, self.y_valid = (x[valid] - mean) / sd, y[valid]
        self.seed = seed
        self.cap = 3.0 * math.log(self.n_classes)

    def loss(self, value: float) -> float:
        return value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        accuracy = user_attrs.get("validation_accuracy")
        return None if accuracy is None else float(accuracy)


class GeneratedTrainingObjective(ValidationTraining):
    def __init__(self, *, task_seed: int, seed: int = 0, epochs: int = 40) -> None:
        super().__init__(task_seed, seed, task_data, lambda n: int(0.6 * n))
        self.epochs = epochs

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        layers = trial.suggest_int("layers", 1, 3)
        width = trial.suggest_int("width", 8, 256, log=True)
        model = MLPClassifier(
            hidden_layer_sizes=(width,) * layers,
            activation=trial.suggest_categorical("activation", ["relu", "tanh", "logistic"]),
            alpha=trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            learning_rate_init=trial.suggest_float("lr", 1e-4, 0.3, log=True),
            batch_size=trial.suggest_int("batch_size", 16, 256, log=True),
            max_iter=self.epochs, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model.fit(self.x_train, self.y_train)
            proba = model.predict_proba(self.x_valid)
        if not np.all(np.isfinite(proba)):
            return self.cap
        accuracy = float((proba.argmax(1) == self.y_valid).mean())
        trial.set_user_attr("validation_accuracy", accuracy)
        value = float(log_loss(self.y_valid, proba, labels=np.arange(self.n_classes)))
        return min(value, self.cap) if math.isfinite(value) else self.cap


def make_generated_training_objective(*, seed: int, task_seed: int,
                                      **options: Any) -> GeneratedTrainingObjective:
    return GeneratedTrainingObjective(task_seed=task_seed, seed=seed, **options)
