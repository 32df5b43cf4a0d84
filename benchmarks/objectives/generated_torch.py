"""Torch training on generated data: a second validation family of real training.

The first one (``generated_training``) trains scikit-learn MLPs with Adam on tabular data,
and levers chosen on it have disagreed with the evaluation suites' real training, where
torch networks are trained by gradient steps whose learning rate has a cliff (7 startup
trials: better on ``generated_training``, worse on the small suite's real training in 0.13
and 0.18, ``docs/benchmarks/startup-0.18.md``). This family is torch training with its own
data, model and search space, on validation task seeds only (9000-9999), so it informs
levers without touching an evaluation task.

Task card
---------
Stands for: tuning a torch network at 15-50 trials where the optimizer is a categorical
choice that changes what every continuous setting means (a learning rate good for SGD
diverges under Adam), with a divergence cliff, a schedule and regularizers.

Data (``task_seed``): a random teacher network labels Gaussian inputs. 1200 points in 8-32
dimensions, correlated by a random mixing matrix; a one-hidden-layer tanh network with 16-64
units, input gain 0.5-2.5 and random weights gives logits for 3-6 classes; labels are the
argmax after Gumbel noise of scale 0.05-0.5 (label noise). Everything comes from
``default_rng(task_seed)``. The objective's ``seed`` splits it 800/400 into training and
validation parts (features standardized with the training part's statistics), orders the
batches, draws dropout masks and initializes the network.

Model: a residual MLP. An input layer to ``width`` units, then ``blocks`` residual blocks
``h + Linear(dropout(act(Linear(h))))`` and a linear head. Trained 12 epochs with the
chosen optimizer, linear warm-up over the first ``warmup`` share of steps and cosine decay
after it.

| parameter | kind | range |
|---|---|---|
| ``blocks`` | integer | 0-3 |
| ``width`` | integer, log | 16-256 |
| ``activation`` | categorical | relu, silu, tanh |
| ``optimizer`` | categorical | sgd, adam, rmsprop |
| ``lr`` | float, log | 1e-4 to 1 |
| ``beta`` | float | 0-0.99 (SGD's momentum, Adam's first beta, RMSprop's momentum) |
| ``weight_decay`` | float, log | 1e-6 to 1e-1 |
| ``dropout`` | float | 0-0.5 |
| ``batch_size`` | integer, log | 16-256 |
| ``warmup`` | float | 0-0.3 |

``define_by_run=True`` (0.20) asks the same settings as a user with a define-by-run
objective would: ``dropout`` only when ``blocks`` >= 1 (it acts inside the blocks only), and
``beta`` under the optimizer's own name, ``sgd_momentum``, ``adam_beta1`` or
``rmsprop_momentum``. The network and its training are the same for the same settings.

Loss: validation cross-entropy after the last epoch (lower is better; reported every epoch,
so pruners work), capped at ``3 ln(classes)`` where training diverges. About 0.2-1 s a
trial on one thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from benchmarks.objectives._torch import SeededDropout
from benchmarks.objectives._torch import build_quietly
from benchmarks.objectives._torch import finite_or
from benchmarks.objectives._torch import reset_parameters_
from benchmarks.objectives.generated_training import ValidationTraining


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
OPTIMIZERS = ("sgd", "adam", "rmsprop")
N_POINTS, N_TRAIN = 1200, 800


def task_data(task_seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Features, labels and class count of task ``task_seed`` (see the module's card)."""
    rng = np.random.default_rng(task_seed)
    dim = int(rng.integers(8, 33))
    hidden = int(rng.integers(16, 65))
    n_classes = int(rng.integers(3, 7))
    mixing = rng.normal(size=(dim, dim)) / math.sqrt(dim) + np.eye(dim)
    x = rng.normal(size=(N_POINTS, dim)) @ mixing
    x /= x.std(axis=0)
    w1 = rng.normal(size=(dim, hidden)) * float(rng.uniform(0.5, 2.5)) / math.sqrt(dim)
    w2 = rng.normal(size=(hidden, n_classes)) / math.sqrt(hidden)
    logits = np.tanh(x @ w1) @ w2
    logits /= logits.std()
    noise = float(rng.uniform(0.05, 0.5))
    y = np.argmax(logits + noise * rng.gumbel(size=logits.shape), axis=1)
    return x, y.astype(np.int64), n_classes


class _Block(nn.Module):
    def __init__(self, width: int, activation: str, dropout: SeededDropout) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)
        self.act = ACTIVATIONS[activation]()
        self.dropout = dropout

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.outer(self.dropout(self.act(self.inner(h))))


class GeneratedTorchObjective(ValidationTraining):
    def __init__(self, *, task_seed: int, seed: int = 0, epochs: int = 12,
                 define_by_run: bool = False) -> None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}.")
        super().__init__(task_seed, seed, task_data, lambda n: N_TRAIN)
        self.epochs = epochs
        self.define_by_run = define_by_run
        self.train = (torch.as_tensor(self.x_train, dtype=torch.float32),
                      torch.as_tensor(self.y_train))
        self.valid = (torch.as_tensor(self.x_valid, dtype=torch.float32),
                      torch.as_tensor(self.y_valid))

    def _optimizer(self, name: str, params: Any, lr: float, beta: float,
                   weight_decay: float) -> torch.optim.Optimizer:
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=beta, weight_decay=weight_decay)
        if name == "adam":
            return torch.optim.AdamW(params, lr=lr, betas=(beta, 0.999),
                                     weight_decay=weight_decay)
        return torch.optim.RMSprop(params, lr=lr, momentum=beta, weight_decay=weight_decay)

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        blocks = trial.suggest_int("blocks", 0, 3)
        width = trial.suggest_int("width", 16, 256, log=True)
        activation = str(trial.suggest_categorical("activation", list(ACTIVATIONS)))
        optimizer_name = str(trial.suggest_categorical("optimizer", list(OPTIMIZERS)))
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        beta = trial.suggest_float(
            {"sgd": "sgd_momentum", "adam": "adam_beta1", "rmsprop": "rmsprop_momentum"}[
                optimizer_name] if self.define_by_run else "beta", 0.0, 0.99)
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True)
        dropout = (trial.suggest_float("dropout", 0.0, 0.5)
                   if blocks or not self.define_by_run else 0.0)
        batch_size = trial.suggest_int("batch_size", 16, 256, log=True)
        warmup = trial.suggest_float("warmup", 0.0, 0.3)

        (x_train, y_train), (x_valid, y_valid) = self.train, self.valid
        generator = torch.Generator().manual_seed(self.seed)
        masks = SeededDropout(dropout, generator)

        def build() -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(x_train.shape[1], width),
                *(_Block(width, activation, masks) for _ in range(blocks)),
                ACTIVATIONS[activation](),
                nn.Linear(width, self.n_classes))

        net = build_quietly(build)
        reset_parameters_(net, generator)
        optimizer = self._optimizer(optimizer_name, net.parameters(), lr, beta, weight_decay)
        steps_per_epoch = math.ceil(N_TRAIN / batch_size)
        total = steps_per_epoch * self.epochs
        warm = max(1, round(warmup * total))

        def factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        value = self.cap
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(N_TRAIN, generator=generator)
            for start in range(0, N_TRAIN, batch_size):
                idx = order[start:start + batch_size]
                loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            net.eval()
            with torch.no_grad():
                logits = net(x_valid)
                value = finite_or(float(F.cross_entropy(logits, y_valid)), self.cap)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
            if value >= self.cap:  # diverged: more epochs will not bring it back
                break
        if value < self.cap:
            accuracy = float((logits.argmax(1) == y_valid).float().mean())
            trial.set_user_attr("validation_accuracy", accuracy)
        return value


def make_generated_torch_objective(*, seed: int, task_seed: int,
                                   **options: Any) -> GeneratedTorchObjective:
    return GeneratedTorchObjective(task_seed=task_seed, seed=seed, **options)
