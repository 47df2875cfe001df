"""How one conversation turn behaves around the model: one policy per call (`policy.py`)."""

from domain.turn.plan import TurnPlan
from domain.turn.policy import (
    HostedPolicy,
    PolicyName,
    SmallModelPolicy,
    TurnPolicy,
    choose,
    policy_for,
)

__all__ = [
    "HostedPolicy",
    "PolicyName",
    "SmallModelPolicy",
    "TurnPlan",
    "TurnPolicy",
    "choose",
    "policy_for",
]
