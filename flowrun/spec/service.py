"""``service: true`` and its ``ready:`` probe (SPEC §8), as pydantic models."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from flowrun.spec.addresses import check_http, check_tcp, split_host_port
from flowrun.spec.expressions import has_expression
from flowrun.spec.fields import ArgText, Duration, Text, Timeout, argv_list

__all__ = ["PROBES", "Ready", "split_host_port"]

#: the probe kinds; a ``ready:`` names exactly one
PROBES = ("tcp", "http", "cmd", "run", "log")


def _tcp(value: str) -> str:
    # an address with ${{ params.N }} is checked with the values (graph: the defaults; a run: what it was given)
    return value if has_expression(value) else check_tcp(value)


def _http(value: str) -> str:
    return value if has_expression(value) else check_http(value)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


def _some_interval(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("the interval between two probes must be more than 0")
    return seconds


class Ready(BaseModel):
    """When a service is ready: exactly one probe, how often it is tried, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tcp: Annotated[Text, AfterValidator(_tcp)] | None = None
    http: Annotated[Text, AfterValidator(_http)] | None = None
    cmd: Annotated[list[ArgText] | None, BeforeValidator(argv_list)] = Field(None, min_length=1)
    run: Text | None = None
    log: Annotated[Text, AfterValidator(_regex)] | None = None
    interval: Annotated[Duration, AfterValidator(_some_interval)] = 0.25
    timeout: Timeout = 60.0
    probe_timeout: Timeout = 5.0

    @model_validator(mode="after")
    def _one_probe(self) -> Ready:
        named = [kind for kind in PROBES if getattr(self, kind) is not None]
        if len(named) != 1:
            which = "none" if not named else " and ".join(named)
            raise ValueError(f"ready: needs exactly one probe of {', '.join(PROBES)} (it has {which})")
        return self

    @property
    def probe(self) -> str:
        """Which probe this is: tcp, http, cmd, run or log."""
        return next(kind for kind in PROBES if getattr(self, kind) is not None)
