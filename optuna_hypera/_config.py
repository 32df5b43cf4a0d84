from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentConfig:
    """One specialised agent: which parameters it owns and how boldly it acts."""

    name: str
    """Agent name, used in logs, user attributes and `groups=` keys."""
    rules: tuple[str, ...]
    """Name fragments this agent claims; matched on word boundaries (`lr` misses `blr_x`)."""
    action_scale: float
    """Largest change per trial, in normalized [0, 1] units of each parameter's range."""
    exploration_temperature: float
    """Initial entropy coefficient alpha; tuned automatically afterwards (SAC, Haarnoja 2018b)."""
    update_frequency: int
    """Run gradient updates after this many new finished trials."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("AgentConfig.name must be non-empty.")
        if not 0.0 < self.action_scale <= 1.0:
            raise ValueError(f"AgentConfig({self.name!r}).action_scale must be in (0, 1].")
        if self.exploration_temperature <= 0.0:
            raise ValueError(
                f"AgentConfig({self.name!r}).exploration_temperature must be positive."
            )
        if self.update_frequency < 1:
            raise ValueError(f"AgentConfig({self.name!r}).update_frequency must be >= 1.")


@dataclass(frozen=True)
class SACConfig:
    """Soft Actor-Critic settings shared by all agents (defaults from the HYPERA write-up)."""

    lr: float = 3e-4
    """Adam learning rate for actor, critics and temperature."""
    gamma: float = 0.0
    """Discount of the successor decision's value (the first proposal made from a trial's
    result). 0: each proposal is a contextual bandit judged by its own reward, chosen by
    measurement over 0.99 (README, "Transitions"); the write-up's value is 0.99."""
    horizon: int = 0
    """Non-myopic rewards: with ``n > 0`` a trial's reward adds what the study's best-so-far
    gained over the next ``n`` finished trials, discounted by ``horizon_discount`` per trial
    (``_history.future_gains``), so a move that informs later ones can be worth more than a
    greedy one. 0: the myopic reward ``q(base) - q(trial)``."""
    horizon_discount: float = 0.9
    """Per-trial discount of those gains."""
    tau: float = 0.005
    """Polyak averaging rate of the target critics."""
    batch_size: int = 64
    """Transitions per online gradient step (drawn with replacement while the buffer is
    smaller). 64 against 256 measured on the generated families (``benchmarks.defaults_choice
    --variants coop-thompson,coop-thompson-b64``): better on 16, worse on 9, tied on 29 of 54
    pairs, at about half the cost of a step; pre-training sets its own (512)."""
    replay_capacity: int = 1_000_000
    """Most recent transitions kept for training."""
    hidden: int = 32
    """Width of every hidden layer (32 keeps a batched step of all agents at a few ms)."""
    gradient_steps: int = 1
    """Gradient steps each time an agent's update is due (every `update_frequency` trials)."""
    stretch_after: int = 100
    """With ``n > 0``, an agent whose replay holds more than ``n`` transitions updates every
    ``update_frequency * size / n`` trials instead of every ``update_frequency``, so the
    gradient steps per new transition fall as 1/size; beyond ``n`` transitions a study adds
    about ``n / update_frequency * log(size / n)`` steps instead of one per
    ``update_frequency`` trials. 0: the write-up's fixed schedule (the default before 0.8).
    100 against 0 on 48 generated validation tasks at 600 trials
    (``docs/benchmarks/cost-levers.md``): better on 17, worse on 19, at 200 trials 17/14; a
    1000-trial study takes about a third of the steps."""
    max_catchup_steps: int = 32
    """Cap on gradient steps in one call when a process catches up on a long study."""
    target_entropy: float = -1.0
    """Target entropy per action dimension (the usual -|A|, counted per parameter)."""
    bc_weight: float = 1.0
    """Weight of cloning the executed action in the actor's loss (per parameter, nats): the
    candidate the critics (cooperative) or the pre-training teacher picked."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError("SACConfig.lr must be positive.")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError("SACConfig.gamma must be in [0, 1).")
        if self.horizon < 0 or not 0.0 <= self.horizon_discount <= 1.0:
            raise ValueError("SACConfig.horizon must be >= 0 and horizon_discount in [0, 1].")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError("SACConfig.tau must be in (0, 1].")
        if self.batch_size < 1 or self.replay_capacity < 1 or self.hidden < 1:
            raise ValueError("SACConfig sizes must be positive.")
        if self.bc_weight < 0:
            raise ValueError("SACConfig.bc_weight must be non-negative.")
        if self.gradient_steps < 0 or self.max_catchup_steps < 0 or self.stretch_after < 0:
            raise ValueError("SACConfig gradient step counts must be non-negative.")


DEFAULT_AGENTS: tuple[AgentConfig, ...] = (
    AgentConfig(
        name="architecture",
        rules=(
            "layers", "layer", "depth", "width", "units", "hidden", "channels", "filters",
            "kernel", "activation", "skip", "residual", "res", "blocks", "heads",
        ),
        action_scale=0.1,
        exploration_temperature=1.0,
        update_frequency=10,
    ),
    AgentConfig(
        name="optimization",
        rules=(
            "lr", "learning_rate", "momentum", "beta", "beta1", "beta2", "weight_decay",
            "batch_size", "scheduler", "schedule", "warmup", "optimizer", "epochs", "eps",
        ),
        action_scale=0.05,
        exploration_temperature=0.5,
        update_frequency=5,
    ),
    AgentConfig(
        name="regularization",
        rules=("dropout", "l1", "l2", "norm", "label_smoothing", "drop"),
        action_scale=0.2,
        exploration_temperature=0.7,
        update_frequency=7,
    ),
    AgentConfig(
        name="data",
        rules=(
            "aug", "augment", "augmentation", "flip", "rotate", "rotation", "crop", "intensity",
            "normalize", "normalization", "class_weight", "class_weights", "sampling",
            "oversample", "noise", "mixup", "cutout",
        ),
        action_scale=0.15,
        exploration_temperature=0.8,
        update_frequency=3,
    ),
    AgentConfig(
        name="loss",
        rules=("loss", "focal", "gamma", "dice", "smooth", "lambda", "alpha"),
        action_scale=0.05,
        exploration_temperature=0.6,
        update_frequency=5,
    ),
)
"""The write-up's five agents: (action scale, temperature, update frequency) per agent."""
