"""A scenario: the call to place, the caller's lines, and what the call must (not) do.

A scenario file is YAML:

    name: water_leak_out_of_order
    summary: the caller gives several facts at once, out of order
    bot: {name: Sam, company: HomeSure}
    task: Register a home water damage claim...
    claim:                                  # the `claim` of POST /call (absent: the default)
      - {name: leak_source, type: text, description: Where the water came from}
    asks:                                   # regexes that recognise a question about a field
      leak_source: ['where.*(water|leak)', 'source']
    caller:
      persona: a tired tenant
      lines:
        - say: "The pipe under my sink burst last night, I'm Ana Lopez."
          gives: {leak_source: pipe under the sink, policyholder_name: Ana Lopez}
        - say: "How long will this take?"
          answer: ['minute', 'quick', 'short']   # a reply matching one addresses the question
        - say: "Ahora hablo español."
          lang: es                               # the caller's language from this line on
        - say: "I have to go, bye."
          hangs_up: true                         # the caller's last line
    expect:
      claim: {}                  # values expected beyond the lines' `gives` (or overriding them)
      tools: [reminder]          # end_call, transfer, reminder, switch_language or a tool name
      forbid_tools: [end_call]
    forbidden:                   # the bot must never say (or store) these
      - {name: joke, pattern: 'why did the|knock knock'}

The expected claim is every line's `gives`, a later line overriding an earlier one (a caller
who corrects themselves), then `expect.claim`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from domain.claim import DEFAULT_CLAIM, POLICYHOLDER_FIELDS, ClaimField

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
# Written before the small policy was tuned, never used to tune it: scored apart.
HELD_OUT_DIR = Path(__file__).parent / "heldout"
TOOL_CHECKS = ("end_call", "transfer", "reminder", "switch_language")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bot(_Strict):
    name: str = "Amélie"
    company: str = "Contoso"


class Line(_Strict):
    """One caller turn."""

    say: str = Field(min_length=1)
    gives: dict[str, str] = Field(default_factory=dict)
    answer: list[str] = Field(default_factory=list)
    lang: str | None = None
    hangs_up: bool = False

    @property
    def asks(self) -> bool:
        """The caller asks the bot something (their turn holds a '?')."""
        return "?" in self.say


class Caller(_Strict):
    persona: str = ""
    phone_number: str = "+33612345678"
    lines: list[Line] = Field(min_length=1)


class Forbidden(_Strict):
    name: str
    pattern: str


class Expect(_Strict):
    claim: dict[str, str] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)
    forbid_tools: list[str] = Field(default_factory=list)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    summary: str = ""
    bot: Bot = Field(default_factory=Bot)
    task: str | None = None
    claim: list[ClaimField] | None = None
    lang: dict[str, Any] | None = None
    asks: dict[str, list[str]] = Field(default_factory=dict)
    caller: Caller
    expect: Expect = Field(default_factory=Expect)
    forbidden: list[Forbidden] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @property
    def fields(self) -> list[ClaimField]:
        """The claim schema the call runs with: its own fields plus the policyholder ones."""
        own = list(self.claim) if self.claim is not None else list(DEFAULT_CLAIM)
        names = {f.name for f in own}
        return [*own, *(f for f in POLICYHOLDER_FIELDS if f.name not in names)]

    @property
    def expected_claim(self) -> dict[str, str]:
        expected: dict[str, str] = {}
        for line in self.caller.lines:
            expected.update(line.gives)
        expected.update(self.expect.claim)
        return expected

    def call_body(self) -> dict[str, Any]:
        """The body of `POST /call` for this scenario."""
        body: dict[str, Any] = {
            "phone_number": self.caller.phone_number,
            "bot_name": self.bot.name,
            "bot_company": self.bot.company,
        }
        if self.task is not None:
            body["task"] = self.task
        if self.claim is not None:
            body["claim"] = [f.model_dump(mode="json", exclude_none=True) for f in self.claim]
        if self.lang is not None:
            body["lang"] = self.lang
        return body

    def check(self) -> None:
        """Raise ValueError when the scenario refers to fields or tools it does not have."""
        names = {f.name for f in self.fields}
        unknown = (set(self.expected_claim) | set(self.asks)) - names
        if unknown:
            raise ValueError(f"{self.name}: unknown claim fields {sorted(unknown)}")
        for line in self.caller.lines[:-1]:
            if line.hangs_up:
                raise ValueError(f"{self.name}: only the last line may hang up")


def load(path: Path) -> Scenario:
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    scenario.check()
    return scenario


def load_all(directory: Path = SCENARIOS_DIR, only: list[str] | None = None) -> list[Scenario]:
    """Every scenario of `directory` in file-name order (`only`: those names, in that order)."""
    scenarios = {s.name: s for s in (load(p) for p in sorted(directory.glob("*.yaml")))}
    if only is None:
        return list(scenarios.values())
    missing = [n for n in only if n not in scenarios]
    if missing:
        raise KeyError(f"no scenario named {missing}; known: {sorted(scenarios)}")
    return [scenarios[n] for n in only]
