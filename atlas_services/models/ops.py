"""Operating Atlas: counters that worker processes add to and the web tier's /metrics reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from atlas_services.models.core import _when


class OpsCounter(SQLModel, table=True):
    """A running total since the database began, per counter family and label (a throttle class, a reason code).

    Workers count in memory and add their counts here with their liveness beat (atlas_services.ops_counts), so a
    Graph request costs no database write and a scrape reads one small table. Totals only grow: Prometheus sees
    an ordinary counter, whichever worker did the counting and however many have restarted.
    """

    __tablename__ = "ops_counters"
    family: str = Field(max_length=40, primary_key=True)
    label: str = Field(max_length=64, primary_key=True)
    total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _when()
