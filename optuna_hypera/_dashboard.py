"""Per-agent credit for optuna-dashboard: a Markdown note and a cumulative-credit figure.

Everything is read back from the ``hypera`` trial user attribute that the sampler writes (see
``docs/INTERFACE.md``). A proposed trial counts for every agent that changed at least one of its
parameters. Its rank improvement is the reward the agents are paid for it (``_features``):
``q(base trial) - q(trial)`` with q the rank quantile among the finished trials (0 = best;
completed before pruned, ties share), -1 for a failed or infeasible trial.

Credit is the part of the study an agent helped climb: a trial's positive rank improvement is
shared among the agents that moved, in proportion to how far each moved (sum of ``|delta|`` of
its parameters in [0, 1] coordinates). It only grows, so the cumulative curves show which agent
the gains came from and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import json
import math
import time
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from optuna_hypera._explain import USER_ATTR
from optuna_hypera._explain import parse_moves
from optuna_hypera._history import rewards
from optuna_hypera._history import spearman
from optuna_hypera._table import build_history


if TYPE_CHECKING:
    import plotly.graph_objects as go


GRAPH_OBJECT_ID = "hypera-agent-credit"
# The figure is stored as 2045-character study attributes; a cap on points per curve keeps a
# publish to a handful of storage writes however long the study runs.
_MAX_POINTS = 200

_logger = optuna.logging.get_logger("optuna.hypera")


@dataclass
class _AgentTally:
    proposals: int = 0
    params_changed: int = 0
    compared: int = 0
    improvements: int = 0
    new_bests: int = 0
    rank_gain: float = 0.0
    credit: float = 0.0
    # Cumulative credit after each of this agent's compared proposals.
    curve_x: list[int] = field(default_factory=list)
    curve_y: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        return {
            "proposals": self.proposals,
            "params_changed": self.params_changed,
            "improvements": self.improvements,
            "improvement_rate": self.improvements / self.compared if self.compared else 0.0,
            "new_bests": self.new_bests,
            "mean_rank_improvement": self.rank_gain / self.compared if self.compared else 0.0,
            "credit": self.credit,
        }


def _tally(
    trials: Sequence[FrozenTrial], direction: StudyDirection | str
) -> tuple[dict[str, _AgentTally], int, int, list[tuple[float, float, float, float]]]:
    """One pass over the trials: tallies, finished and proposed counts. Ranks and rewards are
    the agents' own (``_features``): what the dashboard credits is what the agents are paid."""
    if isinstance(direction, str):
        direction = StudyDirection[direction.upper()]
    history = build_history(trials, direction == StudyDirection.MINIMIZE, lambda t: None, 0)
    row_of = {int(n): i for i, n in enumerate(history.numbers.tolist())}
    records: list[tuple[int, tuple[int | None, dict[str, tuple[int, float]]]]] = []
    malformed = 0
    for trial in trials:
        if trial.number not in row_of or "hypera" not in trial.user_attrs:
            continue
        record = parse_moves(trial.user_attrs[USER_ATTR])
        if record is None:
            malformed += 1
        else:
            records.append((trial.number, record))
    if malformed:
        _logger.warning(f"Skipped {malformed} trial(s) with a malformed 'hypera' attribute.")

    new_best: set[int] = set()
    best = math.inf
    for number, loss, complete in zip(history.numbers.tolist(), history.loss.tolist(),
                                      history.complete.tolist(), strict=True):
        if complete and loss < best:
            best = loss
            new_best.add(number)

    tallies: dict[str, _AgentTally] = {}
    predicted: list[tuple[float, float, float, float]] = []
    for trial in trials:
        pred = trial.user_attrs.get("hypera", {})
        pred = pred.get("prediction") if isinstance(pred, Mapping) else None
        row = row_of.get(trial.number)
        base_row = None
        if isinstance(pred, Mapping) and row is not None and history.complete[row]:
            base = trial.user_attrs["hypera"].get("base_trial")
            base_row = row_of.get(base) if isinstance(base, int) else None
            q, v = pred.get("rank_quantile"), pred.get("critic_value")
            if (isinstance(q, (int, float)) and isinstance(v, (int, float))
                    and base_row is not None):
                r = float(rewards(history.quantiles, history.valid, np.array([row]),
                                  np.array([base_row]))[0])
                predicted.append((float(q), float(history.quantiles[row]), float(v), r))
    for number, (base, moves) in sorted(records, key=lambda record: record[0]):
        movers = {name: size for name, (n, size) in moves.items() if n > 0}
        total = sum(movers.values())
        known = base is not None and base in row_of
        gain = 0.0
        if base is not None and known:
            gain = float(rewards(history.quantiles, history.valid,
                                 np.array([row_of[number]]), np.array([row_of[base]]))[0])
        for name, (n_changed, size) in moves.items():
            tally = tallies.setdefault(name, _AgentTally())
            if n_changed == 0:
                continue
            tally.proposals += 1
            tally.params_changed += n_changed
            tally.new_bests += int(number in new_best)
            if not known:
                continue
            tally.compared += 1
            tally.improvements += int(gain > 0)  # the agents' "success"
            tally.rank_gain += gain
            # Climbs are shared among the movers in proportion to how far each moved.
            share = size / total if total > 0 else 1.0 / len(movers)
            tally.credit += max(gain, 0.0) * share
            tally.curve_x.append(number)
            tally.curve_y.append(tally.credit)
    return tallies, len(history), len(records), predicted


def agent_credit(
    trials: Sequence[FrozenTrial], direction: StudyDirection | str
) -> dict[str, dict[str, float]]:
    """Credit per agent over the finished trials.

    For each agent: ``proposals`` (finished proposed trials where it changed a parameter),
    ``params_changed`` (parameters it changed in them), ``improvements`` (of those, trials that
    beat their base trial), ``improvement_rate`` (improvements over proposals whose base trial is
    finished), ``new_bests`` (trials that beat every earlier-numbered finished trial),
    ``mean_rank_improvement`` (mean of rank(base) - rank(trial) over those proposals) and
    ``credit`` (its share of the positive rank improvements, see the module docstring).
    Agents that appear but never changed anything are listed with zeros.
    """
    tallies, _, _, _ = _tally(trials, direction)
    return {name: tally.as_dict() for name, tally in tallies.items()}


def _agent_order(tallies: Mapping[str, _AgentTally], groups: object) -> list[str]:
    names = list(groups) if isinstance(groups, Mapping) else []
    return [str(n) for n in names] + [n for n in tallies if n not in names]


def _note(
    tallies: Mapping[str, _AgentTally], groups: object, n_finished: int, n_proposed: int
) -> str:
    lines = [
        "## HYPERA agent credit",
        "",
        f"{n_finished} finished trials, {n_proposed} proposed by the agents. A trial counts for "
        "every agent that changed one of its parameters. Rank is a trial's quantile among "
        "finished trials (0 = best; completed before pruned); rank improvement is "
        "rank(base trial) - rank(trial), -1 for a failed trial: the agents' reward. "
        "Credit shares each trial's positive rank improvement among the agents that moved, "
        "in proportion to how far each moved.",
        "",
        "| agent | parameters | proposals | params changed | improved on base | new bests "
        "| mean rank improvement | credit |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in _agent_order(tallies, groups):
        credit = tallies.get(name, _AgentTally()).as_dict()
        params = groups.get(name) if isinstance(groups, Mapping) else None
        param_text = ", ".join(map(str, params)) if isinstance(params, list) and params else "-"
        lines.append(
            f"| {name} | {param_text} | {credit['proposals']} | {credit['params_changed']} "
            f"| {credit['improvements']} ({credit['improvement_rate']:.0%}) "
            f"| {credit['new_bests']} | {credit['mean_rank_improvement']:+.3f} "
            f"| {credit['credit']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _calibration(predicted: Sequence[tuple[float, float, float, float]]) -> str:
    """How well the surrogate's and the critics' predictions matched the outcomes so far."""
    if len(predicted) < 2:
        return ""
    p = np.array(predicted)
    rank_corr = float(spearman(p[:, :1], p[:, 1])[0]) if len(p) >= 4 else math.nan
    value_corr = float(spearman(p[:, 2:3], p[:, 3])[0]) if len(p) >= 4 else math.nan
    mae = float(np.abs(p[:, 0] - p[:, 1]).mean())
    return "\n".join([
        "",
        "## Predictions against outcomes",
        "",
        f"{len(p)} completed trials the agents proposed with a surrogate prediction.",
        "",
        "| what | agreement |",
        "|---|---:|",
        f"| surrogate's predicted rank quantile vs the trial's rank quantile now "
        f"(rank correlation) | {rank_corr:+.2f} |",
        f"| same, mean absolute difference | {mae:.3f} |",
        f"| critics' value vs the reward paid (rank correlation) | {value_corr:+.2f} |",
        "",
    ])


def _sources_note(info: object, trials: Sequence[FrozenTrial]) -> str:
    """Which past studies the sampler learns from, how much of them matched, and the weight
    each carries in the model at the latest proposal (``HyperaSampler(source_studies=...)``)."""
    if not isinstance(info, list) or not info:
        return ""
    latest: dict[str, Any] = {}
    at = None
    for t in sorted(trials, key=lambda t: t.number, reverse=True):
        record = t.user_attrs.get("hypera")
        if isinstance(record, dict) and isinstance(record.get("transfer"), dict):
            latest, at = record["transfer"], t.number
            break
    weights = latest.get("sources", {}) if isinstance(latest.get("sources"), dict) else {}
    lines = [
        "",
        "## Transfer from past studies",
        "",
        "Each source's trials form a prior on the model the agents read; its weight is the "
        "share of resamples of this study's trials that it ranks best (0: it ranks them worse "
        "than this study's own model, so it is ignored)"
        + (f"; weights as of trial {at}." if at is not None else "; no proposal yet."),
        "",
        "| source study | matched trials | completed | matched parameters | ignored | weight |",
        "|---|---:|---:|---|---|---:|",
    ]
    for row in info:
        if not isinstance(row, dict):
            continue
        name = str(row.get("study"))
        w = weights.get(name)
        params = ", ".join(map(str, row.get("params", []))) or "-"
        ignored = ", ".join(map(str, row.get("ignored", []))) or "-"
        lines.append(f"| {name} | {row.get('matched_trials')} | {row.get('completed')} "
                     f"| {params} | {ignored} | {'-' if w is None else f'{w:.2f}'} |")
    own = latest.get("own_model")
    if isinstance(own, (int, float)):
        lines.append(f"| (this study's own model) | | | | | {own:.2f} |")
    return "\n".join(lines) + "\n"


def _downsample(xs: list[int], ys: list[float]) -> tuple[list[int], list[float]]:
    if len(xs) <= _MAX_POINTS:
        return xs, ys
    step = (len(xs) - 1) / (_MAX_POINTS - 1)
    keep = sorted({round(i * step) for i in range(_MAX_POINTS)})
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _figure(tallies: Mapping[str, _AgentTally], groups: object, last: int) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in _agent_order(tallies, groups):
        tally = tallies.get(name, _AgentTally())
        xs, ys = _downsample(tally.curve_x, tally.curve_y)
        if xs and xs[-1] < last:  # carry the flat tail to the newest trial
            xs, ys = [*xs, last], [*ys, ys[-1]]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[round(y, 4) for y in ys],
                name=name,
                mode="lines+markers" if len(xs) < 30 else "lines",
                line_shape="hv",
            )
        )
    fig.update_layout(
        # The default template alone is ~10 kB of JSON; "none" keeps the stored figure small.
        template="none",
        title="HYPERA: cumulative agent credit",
        xaxis_title="trial number",
        yaxis_title="cumulative credit (share of rank climbed)",
        legend_title="agent",
    )
    return fig


def warm_imports() -> None:
    """Import optuna_dashboard and plotly (``ImportError`` without the dashboard extra)."""
    import optuna_dashboard  # noqa: F401
    import plotly.graph_objects  # noqa: F401


def publish_dashboard(study: optuna.Study) -> None:
    """Write the per-agent note and the credit figure to ``study`` for optuna-dashboard.

    Reads the trials once; the figure has at most ``_MAX_POINTS`` + 1 points per agent.
    """
    from optuna_dashboard import save_note
    from optuna_dashboard import save_plotly_graph_object

    trials = study.get_trials(deepcopy=False)
    tallies, n_finished, n_proposed, predicted = _tally(trials, study.direction)
    groups: Any = study.user_attrs.get("hypera_groups")
    if isinstance(groups, str):
        try:
            groups = json.loads(groups)
        except ValueError:
            groups = None
    save_note(study, _note(tallies, groups, n_finished, n_proposed) + _calibration(predicted)
              + _sources_note(study.user_attrs.get("hypera_sources"), trials))
    last = max((t.number for t in trials), default=0)
    figure = _figure(tallies, groups, last)
    save_plotly_graph_object(study, figure, graph_object_id=GRAPH_OBJECT_ID)


_SPACING = 50.0
"""A refresh waits for this many times the last refresh's cost since it ended."""


class Refresher:
    """When the sampler refreshes the dashboard (``HyperaSampler(dashboard_every=...)``)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self._last: dict[tuple[int, int], tuple[int, float, float]] = {}

    def maybe_refresh(self, study: optuna.Study, n: int) -> None:
        """Refresh at most every `dashboard_every` trials, and only once the time since the
        last refresh is 50x what that refresh took: the O(n) refresh stays under ~2% of the
        study's time, yet a study of real training refreshes every `dashboard_every` trials."""
        if not self.every or n == 0:
            return
        key = (id(study._storage), study._study_id)
        last_n, last_end, last_cost = self._last.get(key, (0, -math.inf, 0.0))
        now = time.monotonic()
        if n - last_n < self.every or now - last_end < _SPACING * last_cost:
            return
        try:  # imported before the clock starts: a one-off cost must not throttle refreshes
            warm_imports()
        except ImportError:
            self.every = 0  # the dashboard extra is not installed
            return
        start = time.monotonic()
        try:
            publish_dashboard(study)
        except Exception as e:  # never let a report break the study
            _logger.warning(f"HyperaSampler could not refresh the dashboard note: {e!r}")
        end = time.monotonic()
        self._last[key] = (n, end, end - start)
