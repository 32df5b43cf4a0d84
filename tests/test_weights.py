"""The shipped pre-trained weights: found when installed, used by default, loaded safely."""

from __future__ import annotations

import json
import os
from pathlib import Path
import pickle
import subprocess
import sys

import optuna
import pytest
import torch

from optuna_hypera import HyperaSampler
from optuna_hypera import SACConfig
from optuna_hypera._families import FAMILIES as PRIOR_FAMILIES
from optuna_hypera._simulate import FAMILIES as SYNTHETIC_FAMILIES
from optuna_hypera._weights import pretrained_path
from optuna_hypera._weights import pretrained_record


ROOT = Path(__file__).resolve().parents[1]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    y = trial.suggest_float("dropout", 0.0, 0.5)
    n = trial.suggest_int("num_layers", 1, 6)
    return (x - 0.01) ** 2 * 100 + (y - 0.2) ** 2 + 0.1 * abs(n - 3)


def _params(**kwargs: object) -> list[dict[str, object]]:
    study = optuna.create_study(sampler=HyperaSampler(seed=4, n_startup_trials=5, **kwargs))
    study.optimize(_objective, n_trials=12)
    return [t.params for t in study.trials]


def test_the_record_beside_the_weights_says_how_they_were_made() -> None:
    record = pretrained_record()
    assert record["command"].startswith("python -m optuna_hypera.pretrain")
    assert set(record["families"]) <= set(PRIOR_FAMILIES) | set(SYNTHETIC_FAMILIES)
    assert {"seed", "rounds"} <= set(record["config"])
    assert {"torch", "optuna", "numpy"} <= set(record["versions"])
    assert pretrained_path().stat().st_size < 1_000_000


def test_default_weights_change_the_proposals_against_scratch() -> None:
    default, scratch = _params(), _params(weights=None)
    assert default[:5] == scratch[:5]  # the same Sobol start
    assert default[5:] != scratch[5:]
    assert _params(weights=pretrained_path()) == default


def test_a_pickle_payload_in_a_weights_file_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"actor.enc1.weight": Payload()}, f)
    with pytest.raises(Exception):  # noqa: B017 - torch's refusal, whatever its class
        _params(weights=path)
    assert not marker.exists()


def test_a_file_for_other_networks_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"actor.enc1.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ValueError, match="does not fit"):
        _params(weights=path)


def test_other_network_sizes_start_from_scratch_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="from scratch"):
        _params(sac=SACConfig(hidden=8))


@pytest.mark.slow
def test_the_weights_ship_in_a_non_editable_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("optuna_hypera-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    code = ("import json, optuna_hypera, optuna_hypera._weights as w; "
            "print(json.dumps([optuna_hypera.__file__, str(w.pretrained_path())]))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    package, weights = json.loads(out)
    assert package.startswith(str(target)) and weights.startswith(str(target))
    assert Path(weights).is_file() and Path(weights).with_suffix(".json").is_file()


def test_a_bad_weights_path_fails_at_construction_not_after_the_startup_trials(
        tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        HyperaSampler(weights=tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="not a readable HyperaSampler weights file"):
        HyperaSampler(weights=garbage)
    other = tmp_path / "other.pt"
    torch.save({"actor.enc1.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(ValueError, match="does not fit"):
        HyperaSampler(weights=other)


def test_torch_threads_none_warns() -> None:
    with pytest.warns(UserWarning, match="torch_threads=None"):
        HyperaSampler(torch_threads=None, weights=None)


def test_a_study_run_inside_the_thread_limit_does_not_wait_on_itself() -> None:
    # The sampler limits its threads on every call; code that already holds the limit (a
    # benchmark harness, a nested sampler) used to deadlock on the non-reentrant lock.
    import threading

    from optuna_hypera._threads import torch_threads

    done: list[int] = []

    def study_inside_the_limit() -> None:
        with torch_threads(1):
            study = optuna.create_study(sampler=HyperaSampler(seed=0, n_startup_trials=2))
            study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=4)
            done.append(len(study.trials))

    worker = threading.Thread(target=study_inside_the_limit, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done == [4]
