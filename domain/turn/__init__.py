"""How one conversation turn behaves around the model: one policy per call (`policy.py`)."""

from domain.turn.policy import (
    HostedPolicy,
    PolicyName,
    SmallModelPolicy,
    TurnPlan,
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
