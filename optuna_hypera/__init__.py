"""HyperaSampler: hyperparameter optimization by five cooperating Soft Actor-Critic agents."""

from optuna_hypera._config import DEFAULT_AGENTS
from optuna_hypera._config import AgentConfig
from optuna_hypera._config import SACConfig
from optuna_hypera._dashboard import publish_dashboard
from optuna_hypera._report import report_stats
from optuna_hypera._sampler import HyperaSampler
from optuna_hypera.team import pretrain_on_studies


__all__ = [
    "DEFAULT_AGENTS",
    "AgentConfig",
    "HyperaSampler",
    "SACConfig",
    "pretrain_on_studies",
    "publish_dashboard",
    "report_stats",
]
__version__ = "0.21.0"
