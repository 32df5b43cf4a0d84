"""Pre-training the agents on the project's own synthetic tasks, with a curriculum.

    python -m optuna_hypera.pretrain --out weights.pt [--rounds 20 --seed 0 ...]

Each round simulates a batch of studies (``_simulate``: whole studies, no Optuna) on task
families generated on the fly, ordered from easy to hard (few dimensions and smooth families ->
many dimensions and every family). Only the project's own families are used: by default the
train split of the prior over landscapes (``_families``, ``--prior families``), optionally
with generated learning curves under the median pruning rule (``--curves-share``), or the
three families of ``_simulate`` (``--prior synthetic``: Gaussian-process prior samples,
rotated ill-conditioned quadratics and the same with cosine ripples). No named benchmark
function (BBOB, the suite's ML tasks) is ever evaluated here: those are for evaluation only.

Two stages, as in MetaBO's and expert iteration's recipe:

1. imitation: the cooperative coordinator picks, among the actors' and uniform trust-region
   candidates, the one with the highest log expected improvement under the surrogate (the
   teacher, GP-EI in a trust region); the actors clone the picks and the critics learn the
   real reward of them;
2. SAC: the critics pick (the sampler's own rule); critics train on the real reward, actors
   on the SAC objective plus cloning the critics' picks.

Dense hindsight (``--labels K``): in the simulator the outcome of a candidate that was not
executed costs nothing, so K of every decision's other candidates (actors', trust-region and
global ones) are valued by the task and join the replay with their real reward; the critics
learn the value of moves nobody made, not only of the one that was picked. The actors do not
clone them, nor global jumps (``Proposal.origin``).

Non-myopic rewards (``--horizon N``): an executed trial's reward adds what its study's
best-so-far gained over the next N trials, discounted per trial (``--horizon-discount``), a
Monte-Carlo return on regret, so the critics can value a move for what it teaches the moves
after it.

After each round the agents take ``--steps`` gradient steps on the replay of every round so
far. A checkpoint is written after every round and ``--resume`` continues from it (each round
draws its tasks and seeds from ``(seed, round)``, so a resumed run draws the same tasks; the
replay buffer is rebuilt from the rounds run after the resume). The weights file gets a JSON
file beside it recording the command, seed, families, curriculum and versions, and a plot of
the training curves when matplotlib is installed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import platform
import shlex
import sys
import time

import numpy as np
import torch

from optuna_hypera import _surrogate
from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import SACConfig
from optuna_hypera._coordinator import GLOBAL_SHARE
from optuna_hypera._core import KERNELS
from optuna_hypera._core import HyperaCore
from optuna_hypera._curriculum import CURRICULUM
from optuna_hypera._curriculum import PRIORS
from optuna_hypera._curriculum import regret_share
from optuna_hypera._curriculum import stage_of
from optuna_hypera._curriculum import tasks_for
from optuna_hypera._curriculum import validation_tasks
from optuna_hypera._families import FAMILIES as PRIOR_FAMILIES
from optuna_hypera._simulate import FAMILIES
from optuna_hypera._simulate import simulate
from optuna_hypera._threads import torch_threads


SAC_CHOOSERS = ("critic", "staged")


@dataclass(frozen=True)
class PretrainConfig:
    rounds: int = 20
    """Rounds (a batch of studies each)."""
    studies: int = 48
    """Studies per round."""
    imitation_rounds: int = 6
    """The first rounds, where the teacher picks the candidates."""
    steps: int = 200
    """Gradient steps after each round."""
    batch_size: int = 512
    candidates: int = 32
    """Joint candidates per cooperative decision while pre-training."""
    explore: float = 0.25
    """Share of decisions that execute a random candidate, so the critics see bad ones too."""
    seed: int = 0
    validate: bool = True
    """Evaluate on the validation tasks after every round (and the teacher once)."""
    replay_capacity: int = 60_000
    threads: int = 1
    prior: str = "families"
    """``"families"``: the prior over landscapes of ``_families``, train split only
    (validation on its validation split); ``"synthetic"``: ``_simulate``'s three families
    (what the weights shipped before 0.3 saw)."""
    kernel: str = "mixed"
    """How the surrogate reads discrete parameters (``HyperaCore(kernel=...)``)."""
    curves_share: float = 0.0
    """With ``prior="families"``: the share of each round's studies that are generated
    learning curves trained under the median pruning rule (``_curve_study``)."""
    labels: int = 0
    """Dense hindsight: unexecuted candidates per decision valued by the simulator and added
    to the replay (``Learner.add_labels``); 0 learns from executed trials only."""
    global_share: float = GLOBAL_SHARE
    """Share of the candidates from the whole space (``_global``; 0, the shipped recipe)."""
    teacher_global: bool = False
    """Whether the imitation stage's log-EI teacher may pick a global candidate (by default
    it picks in the trust region, as the shipped recipe's teacher did; with ``global_share``
    the global candidates still reach the critics through the hindsight labels and the SAC
    stage)."""
    horizon: int = 0
    """Non-myopic rewards (``SACConfig.horizon``): a trial's reward adds the discounted gains
    of its study's best-so-far over the next ``horizon`` trials; 0, the shipped recipe, is
    myopic. Not with ``labels`` (an unexecuted candidate has no future to credit)."""
    horizon_discount: float = 0.9
    targets: str = "standardized"
    """What the surrogate is fitted on while pre-training and validating
    (``_surrogate.TARGET_KINDS``): the critics read features of that model, so weights are
    trained for one kind of targets."""
    stretch: bool = False
    """Uniform candidates from the box stretched by the model's lengthscales
    (``Coordinator.stretch``, an option of the sampler since 0.12, off by default); off, as
    the shipped weights were trained (0.11's trust region), so their command reproduces
    them."""

    init: str = ""
    """Weights to start from instead of fresh networks (a fine-tune; the optimizers and the
    replay start empty); "": fresh, the shipped recipe."""
    sac_chooser: str = "critic"
    """Who picks in the SAC stage: ``"critic"`` (the shipped recipe: the critics from the
    first decision) or ``"staged"`` (the teacher below ``STAGE_TRIALS`` trainings and the
    critics after, as ``HyperaSampler()`` decides, so the critics learn in the studies where
    they will be used)."""
    critics_only: bool = False
    """Train the critics alone (actors and temperatures as they start: with ``init``, the
    candidates the teacher picks among stay the ones it had)."""
    trials: int = 0
    """Trials per study; 0: the curriculum's (``tasks_for``: 40 plus twice the stage's
    largest dimension, at most 80)."""

    def __post_init__(self) -> None:
        if self.sac_chooser not in SAC_CHOOSERS:
            raise ValueError(f"sac_chooser must be one of {SAC_CHOOSERS}, got "
                             f"{self.sac_chooser!r}.")
        if self.horizon and self.labels:
            raise ValueError("--horizon and --labels do not combine: hindsight labels have "
                             "no future trials to credit.")


@dataclass
class RoundLog:
    round: int
    stage: int
    chooser: str
    regret: float
    """Mean over the round's studies of the share of 2000 random points better than the best
    found (exploration included)."""
    validation: float
    """The same on fixed validation tasks, the critics picking, no exploration."""
    critic: float
    actor: float
    bc: float
    seconds: float


def evaluate(state: dict[str, torch.Tensor], cfg: PretrainConfig, chooser: str = "critic",
             ) -> float:
    """Validation regret share of weights ``state`` (a separate core: nothing reaches the
    training replay)."""
    core = make_core(cfg)
    core.coordinator.explore = 0.0
    core.coordinator.labels = 0
    core.coordinator.chooser = chooser
    core.sac.load_state_dict(state)
    tasks = validation_tasks(cfg.seed, cfg.prior)
    sim = simulate(core, tasks, 40, n_startup=10, seed=cfg.seed + 777)
    return regret_share(tasks, sim.completed(), cfg.seed + 778)


def make_core(cfg: PretrainConfig, device: str = "cpu") -> HyperaCore:
    sac = SACConfig(gradient_steps=0, batch_size=cfg.batch_size,
                    replay_capacity=cfg.replay_capacity, horizon=cfg.horizon,
                    horizon_discount=cfg.horizon_discount)
    core = HyperaCore(agents=DEFAULT_AGENTS, sac=sac, strategy="cooperative", conflict="value",
                      seed=cfg.seed, device=device, n_candidates=cfg.candidates,
                      kernel=cfg.kernel, global_share=cfg.global_share)
    core.coordinator.explore = cfg.explore
    core.coordinator.labels = cfg.labels
    core.coordinator.teacher_local = not cfg.teacher_global
    core.coordinator.stretch = cfg.stretch
    return core


def train_steps(core: HyperaCore, steps: int, rng: np.random.RandomState,
                gen: torch.Generator, actors: bool = True) -> dict[str, float]:
    """``steps`` gradient steps of every agent on the replay (of the critics alone without
    ``actors``); mean losses."""
    totals: dict[str, float] = {}
    due = np.ones(len(core.agents), bool)
    for _ in range(steps):
        batch, mask = core.learner.draw(due, rng)
        for name, value in core.sac.update(batch, mask, gen, actors).items():
            totals[name] = totals.get(name, 0.0) + float(value.mean())
    return {k: v / max(steps, 1) for k, v in totals.items()}


def _save_checkpoint(path: Path, core: HyperaCore, done: int, logs: list[RoundLog]) -> None:
    state = core.sac.state_dict()
    for prefix, opt in (("actor_opt", core.sac.actor_opt), ("critic_opt", core.sac.critic_opt),
                        ("alpha_opt", core.sac.alpha_opt)):
        for i, (m, v) in enumerate(zip(opt.m, opt.v, strict=True)):
            state[f"{prefix}.m.{i}"] = m.detach().cpu().clone()
            state[f"{prefix}.v.{i}"] = v.detach().cpu().clone()
        state[f"{prefix}.t"] = opt.t.detach().cpu().clone()
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    _meta(path).write_text(json.dumps(
        {"rounds_done": done, "log": [asdict(x) for x in logs]}, indent=1))


def _meta(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".json")


def _load_checkpoint(path: Path, core: HyperaCore) -> tuple[int, list[RoundLog]]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    for prefix, opt in (("actor_opt", core.sac.actor_opt), ("critic_opt", core.sac.critic_opt),
                        ("alpha_opt", core.sac.alpha_opt)):
        for i in range(len(opt.m)):
            opt.m[i].copy_(state.pop(f"{prefix}.m.{i}"))
            opt.v[i].copy_(state.pop(f"{prefix}.v.{i}"))
        opt.t.copy_(state.pop(f"{prefix}.t"))
    core.sac.load_state_dict({k: v.to(core.sac.device) for k, v in state.items()})
    meta = json.loads(_meta(path).read_text())
    return int(meta["rounds_done"]), [RoundLog(**x) for x in meta["log"]]


def pretrain(cfg: PretrainConfig, out: str | os.PathLike[str], *,
             checkpoint: str | os.PathLike[str] | None = None, resume: bool = False,
             progress: bool = True, command: str | None = None,
             device: str = "cpu") -> list[RoundLog]:
    """Run the curriculum and write the weights to ``out`` (plus ``out``'s ``.json`` record
    and ``.png`` plot); returns the per-round log."""
    if cfg.prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {cfg.prior!r}.")
    if not 0.0 <= cfg.curves_share <= 1.0 or (cfg.curves_share and cfg.prior != "families"):
        raise ValueError("curves_share must be in [0, 1] and needs prior='families'.")
    if cfg.targets not in _surrogate.TARGET_KINDS:
        raise ValueError(f"targets must be one of {_surrogate.TARGET_KINDS}, got "
                         f"{cfg.targets!r}.")
    previous = _surrogate.TARGETS
    _surrogate.TARGETS = cfg.targets
    try:
        return _pretrain(cfg, out, checkpoint, resume, progress, command, device)
    finally:
        _surrogate.TARGETS = previous


def _pretrain(cfg: PretrainConfig, out: str | os.PathLike[str],
              checkpoint: str | os.PathLike[str] | None, resume: bool, progress: bool,
              command: str | None, device: str) -> list[RoundLog]:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Path(checkpoint) if checkpoint else out.with_suffix(".ckpt")
    core = make_core(cfg, device)
    logs: list[RoundLog] = []
    start = 0
    if resume and ckpt.exists():
        start, logs = _load_checkpoint(ckpt, core)
    elif cfg.init:
        core.sac.load(cfg.init)
    t0 = time.time()
    teacher = initial = math.nan
    if cfg.validate:
        with torch_threads(cfg.threads):
            teacher = evaluate(make_core(cfg).sac.state_dict(), cfg, "teacher")
            initial = evaluate(make_core(cfg).sac.state_dict(), cfg)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.rounds, initial=start, desc="pretrain", unit="round")
    with torch_threads(cfg.threads):
        for r in range(start, cfg.rounds):
            t = time.time()
            chooser = "teacher" if r < cfg.imitation_rounds else cfg.sac_chooser
            core.coordinator.chooser = chooser
            tasks, n_trials = tasks_for(r, cfg)
            n_trials = cfg.trials or n_trials
            sim = simulate(core, tasks, n_trials, n_startup=10, seed=cfg.seed * 1000 + r)
            core.learner.freeze()  # the round's studies are over: their ranks are final
            rng = np.random.RandomState([cfg.seed, r, 1])
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + r)
            losses = train_steps(core, cfg.steps, rng, gen, not cfg.critics_only)
            logs.append(RoundLog(r, stage_of(r, cfg.rounds), chooser,
                                 regret_share(tasks, sim.completed(), cfg.seed + r),
                                 evaluate(core.sac.state_dict(), cfg) if cfg.validate
                                 else math.nan,
                                 losses.get("critic", math.nan), losses.get("actor", math.nan),
                                 losses.get("bc", math.nan), time.time() - t))
            _save_checkpoint(ckpt, core, r + 1, logs)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val=f"{logs[-1].validation:.4f}", teacher=f"{teacher:.4f}",
                                critic=f"{logs[-1].critic:.3f}", bc=f"{logs[-1].bc:.2f}")
    if bar is not None:
        bar.close()
    core.sac.save(out)
    record = {
        "command": command or "optuna_hypera.pretrain.pretrain(...)",
        "config": asdict(cfg),
        "prior": cfg.prior,
        "families": list(FAMILIES) if cfg.prior == "synthetic" else list(PRIOR_FAMILIES),
        "splits": None if cfg.prior == "synthetic" else
        "train split of optuna_hypera._families (split_of(seed)); validation on its "
        "validation split; the test split is never drawn",
        "curriculum": [asdict(s) for s in CURRICULUM],
        "never_trained_on": "any named benchmark function (BBOB f1-f24 and every other), "
                            "the benchmark suite's ML tasks and data sets",
        "versions": _versions(),
        "validation_teacher": teacher,
        "validation_initial": initial,
        "seconds": round(sum(x.seconds for x in logs), 1),
        "wall_seconds_this_invocation": round(time.time() - t0, 1),
        "log": [asdict(x) for x in logs],
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    plot(logs, out.with_suffix(".png"), teacher, initial)
    return logs


def _versions() -> dict[str, str]:
    import optuna
    import scipy

    from optuna_hypera import __version__

    return {"optuna_hypera": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "optuna": optuna.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__,
            "machine": platform.processor() or platform.machine()}


def plot(logs: Sequence[RoundLog], path: Path, teacher: float = math.nan,
         initial: float = math.nan) -> bool:
    """Training curves (regret share and losses per round); ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    r = [x.round for x in logs]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    ax[0].plot(r, [x.regret for x in logs], marker="o", label="training rounds")
    if not all(math.isnan(x.validation) for x in logs):  # ``--no-validation``: none
        ax[0].plot(r, [x.validation for x in logs], marker="s",
                   label="validation (critics pick)")
        ax[0].axhline(teacher, color="k", ls="--", lw=1, label="validation, log-EI teacher")
        ax[0].axhline(initial, color="r", ls=":", lw=1, label="validation, initial weights")
    ax[0].legend(fontsize=7)
    ax[0].set_title("share of random points better\nthan the best found (lower is better)",
                    fontsize=9)
    if any(x.regret > 0 or x.validation > 0 for x in logs):  # NaN compares False
        ax[0].set_yscale("log")
    ax[1].plot(r, [x.critic for x in logs], marker="o")
    ax[1].set_title("critic loss (TD error)", fontsize=9)
    ax[2].plot(r, [x.bc for x in logs], marker="o")
    ax[2].set_title("cloning loss (nats per parameter)", fontsize=9)
    for a in ax:
        a.set_xlabel("round")
        for x in logs:
            if x.chooser != "teacher":
                a.axvspan(x.round - 0.5, x.round + 0.5, color="0.93", lw=0)
    fig.suptitle("pre-training (grey: critics pick, or staged; white: the log-EI teacher)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    d = PretrainConfig()
    p = argparse.ArgumentParser(prog="python -m optuna_hypera.pretrain",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", required=True, help="weights file to write (.pt)")
    p.add_argument("--checkpoint", help="checkpoint file (default: <out>.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default="cpu", help="torch device of the networks, e.g. cuda")
    p.add_argument("--no-validation", action="store_true",
                   help="skip the validation tasks after each round")
    for name in ("rounds", "studies", "imitation_rounds", "steps", "batch_size", "candidates",
                 "explore", "seed", "replay_capacity", "threads", "labels", "global_share",
                 "horizon", "horizon_discount"):
        kind = float if name in ("explore", "global_share", "horizon_discount") else int
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(d, name))
    p.add_argument("--prior", choices=PRIORS, default=d.prior,
                   help="task families: _simulate's three, or _families' prior (train split)")
    p.add_argument("--kernel", choices=KERNELS, default=d.kernel,
                   help="how the surrogate reads discrete parameters")
    p.add_argument("--teacher-global", action="store_true",
                   help="let the imitation stage's log-EI teacher pick global candidates")
    p.add_argument("--curves-share", type=float, default=d.curves_share,
                   help="with --prior families: share of studies that are learning curves "
                        "under the median pruning rule")
    p.add_argument("--targets", choices=_surrogate.TARGET_KINDS, default=d.targets,
                   help="what the surrogate is fitted on: normal scores of the loss ranks or "
                        "standardized losses")
    p.add_argument("--stretch", action="store_true",
                   help="uniform candidates from the box stretched by the model's lengthscales "
                        "(an option of the sampler since 0.12; the shipped weights were "
                        "trained without)")
    p.add_argument("--init", default=d.init,
                   help="weights to start from (a fine-tune; default: fresh networks)")
    p.add_argument("--sac-chooser", choices=SAC_CHOOSERS, default=d.sac_chooser,
                   help="who picks in the SAC stage: the critics from the first decision, or "
                        "staged as the sampler (the teacher below 50 trainings)")
    p.add_argument("--critics-only", action="store_true",
                   help="train the critics alone (actors and temperatures kept)")
    p.add_argument("--trials", type=int, default=d.trials,
                   help="trials per study (default: the curriculum's, 42 to 80)")
    a = p.parse_args(argv)
    cfg = PretrainConfig(a.rounds, a.studies, a.imitation_rounds, a.steps, a.batch_size,
                         a.candidates, a.explore, a.seed, not a.no_validation,
                         a.replay_capacity, a.threads, a.prior, a.kernel, a.curves_share,
                         a.labels, a.global_share, a.teacher_global, a.horizon,
                         a.horizon_discount, a.targets, a.stretch, a.init, a.sac_chooser,
                         a.critics_only, a.trials)
    command = "python -m optuna_hypera.pretrain " + " ".join(
        shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))
    pretrain(cfg, a.out, checkpoint=a.checkpoint, resume=a.resume,
             progress=not a.no_progress, command=command, device=a.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
