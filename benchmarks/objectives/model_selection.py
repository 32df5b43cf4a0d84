"""Model selection on a bundled scikit-learn data set, declared define-by-run: an
evaluation task for conditional search spaces (never used to choose a default).

Which classifier to train is the first parameter; every other parameter is asked only under
the classifier that reads it, as in Optuna's own first example. The data sets ship inside
scikit-learn (``load_digits``, 1797 8x8 images of 10 digits; ``load_wine``, 178 samples of 3
cultivars; ``load_breast_cancer``, 569 samples of 2 classes): nothing is downloaded.

Task card
---------
Stands for: choosing a model and its settings at once (a conditional space: 1 selector, 2-3
parameters per branch, log-scale, integer and categorical ones), at 30-60 trials.

Split (``seed``): a stratified 60/40 split of the data set into training and validation
parts, features standardized with the training part's statistics. Search space:

| parameter | asked when | kind | range |
|---|---|---|---|
| ``classifier`` | always | categorical | svc, forest, logistic, knn |
| ``svc_c`` | svc | float, log | 1e-3 to 1e3 |
| ``svc_gamma`` | svc | float, log | 1e-5 to 1 |
| ``forest_trees`` | forest | integer, log | 10-200 |
| ``forest_depth`` | forest | integer, log | 2-32 |
| ``forest_features`` | forest | float | 0.05-1 |
| ``logistic_c`` | logistic | float, log | 1e-4 to 1e2 |
| ``knn_neighbors`` | knn | integer | 1-40 |
| ``knn_weights`` | knn | categorical | uniform, distance |

Loss: validation error, ``1 - accuracy`` (lower is better; the score is the accuracy).
About 0.01-1 s a trial on one thread.
"""

from __future__ import annotations

from typing import Any
import warnings

import numpy as np
import optuna


DATA_SETS = ("digits", "wine", "breast_cancer")


class ModelSelectionObjective:
    direction = "minimize"
    loss_label = "validation error"
    score_label: str | None = "validation accuracy"

    def __init__(self, *, data: str = "digits", seed: int = 0) -> None:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        if data not in DATA_SETS:
            raise ValueError(f"data must be one of {DATA_SETS}, not {data!r}")
        x, y = getattr(datasets, f"load_{data}")(return_X_y=True)
        x_train, x_valid, y_train, y_valid = train_test_split(
            x.astype(np.float64), y, test_size=0.4, stratify=y, random_state=seed)
        mean, sd = x_train.mean(0), x_train.std(0) + 1e-9
        self.x_train, self.x_valid = (x_train - mean) / sd, (x_valid - mean) / sd
        self.y_train, self.y_valid = y_train, y_valid
        self.seed = seed

    def loss(self, value: float) -> float:
        return value

    def score(self, value: float, user_attrs: dict[str, Any]) -> float | None:
        return 1.0 - value

    def model(self, trial: optuna.trial.BaseTrial) -> Any:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.svm import SVC

        kind = trial.suggest_categorical("classifier", ["svc", "forest", "logistic", "knn"])
        if kind == "svc":
            return SVC(C=trial.suggest_float("svc_c", 1e-3, 1e3, log=True),
                       gamma=trial.suggest_float("svc_gamma", 1e-5, 1.0, log=True))
        if kind == "forest":
            return RandomForestClassifier(
                n_estimators=trial.suggest_int("forest_trees", 10, 200, log=True),
                max_depth=trial.suggest_int("forest_depth", 2, 32, log=True),
                max_features=trial.suggest_float("forest_features", 0.05, 1.0),
                random_state=self.seed, n_jobs=1)
        if kind == "logistic":
            return LogisticRegression(C=trial.suggest_float("logistic_c", 1e-4, 1e2, log=True),
                                      max_iter=200)
        return KNeighborsClassifier(
            n_neighbors=trial.suggest_int("knn_neighbors", 1, 40),
            weights=trial.suggest_categorical("knn_weights", ["uniform", "distance"]))

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        from sklearn.exceptions import ConvergenceWarning

        model = self.model(trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(self.x_train, self.y_train)
            accuracy = float((model.predict(self.x_valid) == self.y_valid).mean())
        trial.set_user_attr("validation_accuracy", accuracy)
        return 1.0 - accuracy


def make_model_selection_objective(*, seed: int, **options: Any) -> ModelSelectionObjective:
    return ModelSelectionObjective(seed=seed, **options)
