"""Consumption schemas (devin-api-reference §9; the generated SDK's ``Consumption``)."""

from typing import Annotated

from pydantic import BaseModel, Field

from codeyard.api.schemas.common import Request


class AcusByProduct(BaseModel):
    devin: float
    cascade: float = 0.0
    terminal: float = 0.0
    review: float = 0.0


class ConsumptionByDate(BaseModel):
    date: int
    """The day's start, epoch seconds (days are cut at midnight Pacific, 08:00 UTC)."""
    acus: float
    acus_by_product: AcusByProduct


class ConsumptionResponse(BaseModel):
    consumption_by_date: list[ConsumptionByDate]
    total_acus: float


class AcuLimitBody(Request):
    cycle_acu_limit: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class AcuLimitsResponse(BaseModel):
    enterprise_cycle_acu_limit: float | None = None
    org_cycle_acu_limits: dict[str, float]
