"""The distributed contract (docs/distributed.md): everything a worker derives from storage is
a function of what is in storage, so a sampler that has followed a study from the start and
one that meets it for the first time agree on all of it: the kernel fit, the model's
predictions, the trust radius, the incumbent and elites, the state features, the RGPE
weights and the startup configurations."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.search_space import intersection_search_space
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
import pytest

from optuna_hypera import HyperaSampler
from optuna_hypera._startup import STARTUP_TRIALS
from optuna_hypera._startup import StudySobol
from optuna_hypera._surrogate import Surrogate
from optuna_hypera._threads import torch_threads
from optuna_hypera._transfer import Ensemble


optuna.logging.set_verbosity(optuna.logging.WARNING)
DISTS = {
    **{f"x{j}": FloatDistribution(-2.0, 2.0) for j in range(4)},
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "width": IntDistribution(8, 64),
    "act": CategoricalDistribution(["relu", "tanh", "gelu"]),
}
QUERY = np.random.RandomState(11).rand(16, len(DISTS))


def _value(params: dict[str, Any]) -> float:
    v = sum((params[f"x{j}"] - 0.3 * j) ** 2 for j in range(4))
    v += (np.log10(params["lr"]) + 2.5) ** 2 + abs(params["width"] - 40) / 20
    return float(v + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[params["act"]])


def _derived(sampler: HyperaSampler, study: optuna.Study) -> dict[str, np.ndarray]:
    """What the sampler's next decision is made from, as numbers."""
    trials = study._get_trials(deepcopy=False, use_cache=False)
    finished = [t for t in trials if t.state.is_finished()]
    space = {n: d for n, d in intersection_search_space(finished, include_pruned=True).items()
             if not d.single()}
    # The sampler computes under its own thread limits (BLAS sums in another order on more
    # threads): equal down to the last bit needs equal torch_threads.
    with sampler._lock, torch_threads(sampler._torch_threads):
        cache = sampler._cache_for(study)
        enc = cache.encoder_for(study, space, sampler._agents)
        if sampler._sources:
            sampler._sources.attach(sampler._key(study), study, cache.core, enc)
        ctx = cache.core.context(cache.study_input(trials, -1, enc))
        assert ctx is not None and ctx.surrogate is not None
        mu, sd = ctx.surrogate.predict(QUERY[:, : len(enc)])
        cand = ctx.candidates(QUERY[:, : len(enc)], ctx.incumbent.x)
    out = {
        "step": ctx.step, "incumbent": np.array([ctx.incumbent.number]),
        "elites": np.array(ctx.elites), "base_features": ctx.incumbent.glob,
        "best_x": ctx.evidence.best_x, "elite_mean": ctx.evidence.elite_mean,
        "correlation": ctx.evidence.correlation, "mean": mu, "sd": sd,
        "candidates": cand,
    }
    if isinstance(ctx.surrogate, Surrogate):
        out["kernel"] = ctx.surrogate.params.vector()
    else:
        assert isinstance(ctx.surrogate, Ensemble)
        out["rgpe_weights"] = ctx.surrogate.weights
    return out


def _agree(a: dict[str, np.ndarray], b: dict[str, np.ndarray], when: int) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key} at {when} trials")


def _grow(study: optuna.Study, n: int, rng: np.random.RandomState) -> None:
    """Trials with three running at any time, finished in a random order, a few failed, and
    one straggler (a slow worker's trial asked first and finished last), so that the trials
    complete in another order than their numbers; all finished on return."""
    straggler = study.ask(DISTS)
    running: list[optuna.Trial] = []
    while len(study.trials) < n or running:
        while len(running) < 3 and len(study.trials) < n:
            running.append(study.ask(DISTS))
        t = running.pop(int(rng.randint(len(running))))
        if t.number % 17 == 5:
            study.tell(t, state=TrialState.FAIL)
        else:
            study.tell(t, _value(t.params))
    study.tell(straggler, _value(straggler.params))


def _new_best(study: optuna.Study) -> None:
    """A trial added by hand with the best value yet: the incumbent moves between refits."""
    params = {"x0": 1.9, "x1": -1.9, "x2": 1.9, "x3": -1.9, "lr": 1e-4, "width": 8,
              "act": "tanh"}  # far from the incumbent
    study.add_trial(optuna.trial.create_trial(params=params, distributions=DISTS,
                                              value=study.best_value - 1.0))


@pytest.mark.slow
def test_a_fresh_sampler_and_a_long_running_one_agree_at_50_250_and_600_trials() -> None:
    rng = np.random.RandomState(0)
    long = HyperaSampler(seed=0)
    study = optuna.create_study(sampler=long)
    for n in (50, 250, 600):
        _grow(study, n, rng)
        _agree(_derived(long, study), _derived(HyperaSampler(seed=0), study), n)
        _new_best(study)
        _agree(_derived(long, study), _derived(HyperaSampler(seed=0), study), n + 1)
        # Another seed is another process's agents, not another view of the storage.
        _agree(_derived(long, study), _derived(HyperaSampler(seed=99), study), n)


def test_the_rgpe_weights_are_the_same_in_every_worker() -> None:
    source = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(25):
        t = source.ask(DISTS)
        source.tell(t, _value(t.params) + 0.5)
    rng = np.random.RandomState(2)
    long = HyperaSampler(seed=0, source_studies=[source], source_steps=5)
    study = optuna.create_study(sampler=long)
    for n in (12, 30):
        _grow(study, n, rng)
        fresh = HyperaSampler(seed=7, source_studies=[source], source_steps=5)
        a, b = _derived(long, study), _derived(fresh, study)
        assert "rgpe_weights" in a
        _agree(a, b, n)


def test_every_worker_gives_a_startup_trial_the_same_configuration() -> None:
    """Workers with different seeds, or none, share the study's Sobol design: startup trial k
    has the same point whoever samples it, and no two startup trials repeat."""
    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(storage=storage, sampler=HyperaSampler(seed=3))
    name = first.study_name
    samplers = [HyperaSampler(seed=3), HyperaSampler(seed=4), HyperaSampler()]
    for k in range(STARTUP_TRIALS):  # three workers take turns through the startup
        worker = optuna.load_study(study_name=name, storage=storage, sampler=samplers[k % 3])
        asked = worker.ask(DISTS)
        worker.tell(asked, _value(asked.params))
    trials = first.trials
    design = StudySobol(seed=999)
    for t in trials[1:]:
        search_space = intersection_search_space(trials[:1])
        assert design.sample_relative(first, t, search_space) == {
            n: t.params[n] for n in search_space}
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)


@pytest.mark.parametrize("n_choices", [2, 3, 4, 5, 6])
def test_the_balanced_startup_tries_every_choice_of_a_categorical_parameter(
        n_choices: int) -> None:
    """``StudySobol(design="balanced")``: trials 1 to n_choices take every choice once,
    wherever the parameter sits among the study's parameters, and the next block again (the
    default design misses one of four choices in the first, fourth and fifth of six
    coordinates for every scrambling)."""
    choices = [f"c{i}" for i in range(n_choices)]
    for seed in range(6):
        for position in (0, 3, 5):
            names = [f"p{j}" for j in range(6)]
            dists: dict[str, Any] = {n: FloatDistribution(0.0, 1.0) for n in names}
            dists[names[position]] = CategoricalDistribution(choices)
            sampler = HyperaSampler(seed=seed, n_startup_trials=13,
                                    startup_sampler=StudySobol(seed, design="balanced"))
            study = optuna.create_study(sampler=sampler)
            for _ in range(1 + 2 * n_choices):
                trial = study.ask(dists)
                study.tell(trial, float(sum(v for v in trial.params.values()
                                            if isinstance(v, float))))
            picked = [t.params[names[position]] for t in study.trials[1:]]
            assert sorted(picked[:n_choices]) == choices
            assert sorted(picked[n_choices:]) == choices


def test_the_startup_designs_take_the_sobol_points_they_name() -> None:
    """The default (``"sobol-skip"``) gives trial k Sobol point k; ``"sobol"`` point k - 1;
    a categorical choice follows the point in both, so their trials agree one apart."""
    def startup(design: str) -> list[dict[str, Any]]:
        sampler = HyperaSampler(seed=5, n_startup_trials=10,
                                startup_sampler=StudySobol(5, design=design))
        study = optuna.create_study(sampler=sampler)
        for _ in range(8):
            trial = study.ask(DISTS)
            study.tell(trial, _value(trial.params))
        return [t.params for t in study.trials]

    default, shifted = startup("sobol-skip"), startup("sobol")
    assert default[1:7] == shifted[2:8]
    assert default[1:] != shifted[1:]
    with pytest.raises(ValueError, match="design"):
        StudySobol(design="latin")


_FRESH_PROCESS = """
import sys
import numpy as np
import optuna
sys.path.insert(0, sys.argv[3])
import test_distributed_contract as T
from optuna_hypera import HyperaSampler
storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(sys.argv[1]))
study = optuna.load_study(study_name="contract", storage=storage, sampler=HyperaSampler(seed=5))
np.savez(sys.argv[2], **T._derived(study.sampler, study))
"""


def test_a_fresh_process_agrees_with_the_long_running_one(tmp_path: Path) -> None:
    """The same, across processes: the new worker is another Python process reading the
    study from a journal file."""
    path = str(tmp_path / "study.log")
    storage = optuna.storages.JournalStorage(JournalFileBackend(path))
    long = HyperaSampler(seed=0)
    study = optuna.create_study(study_name="contract", storage=storage, sampler=long)
    _grow(study, 230, np.random.RandomState(4))
    _new_best(study)
    mine = _derived(long, study)
    out = tmp_path / "fresh.npz"
    done = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, path, str(out),
                           str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    with np.load(out) as fresh:
        _agree(mine, {k: fresh[k] for k in fresh.files}, 231)
