"""A time budget per monitor run: what to reduce, in which order, planned from measured times."""

from lightning_xai.budget.plan import STAGES, BudgetPlan
from lightning_xai.budget.time_budget import TimeBudget

__all__ = ["STAGES", "BudgetPlan", "TimeBudget"]
