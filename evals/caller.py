"""A caller played by a second model instead of the scenario's scripted lines.

The caller model (any OpenAI-compatible endpoint) gets the scenario's persona, the bot's
company and the facts it knows (the scenario's expected claim, as field description: value),
and writes one short caller turn at a time from the conversation so far. Which facts a turn
gave is read back from its text (`mentions`), so the same metrics apply: a fact counts as
given, and may be asked again, only once the caller actually said it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import httpx

from domain.claim import ClaimFieldType
from evals.metrics import content_words, normalise
from evals.scenario import Line, Scenario

BYE = re.compile(r"\b(?:bye|goodbye|au revoir|adios|tschuss)\b", re.IGNORECASE)


def mentions(expected: str, kind: ClaimFieldType, said: str) -> bool:
    """Whether the caller's text gives `expected` (any of its `a | b` alternatives)."""
    return any(_mentions(alt.strip(), kind, said) for alt in expected.split("|"))


def _mentions(expected: str, kind: ClaimFieldType, said: str) -> bool:
    if kind is ClaimFieldType.PHONE_NUMBER:
        digits = re.sub(r"\D", "", expected)[-9:]
        return digits in re.sub(r"\D", "", said)
    if kind is ClaimFieldType.DATETIME:
        day = date.fromisoformat(expected[:10])
        text = said.lower()
        named = f"{day:%B}".lower() in text and re.search(rf"\b{day.day}(?:st|nd|rd|th)?\b", text)
        return bool(named) or expected[:10] in said
    words = content_words(expected) or set(normalise(expected).split())
    return words <= set(normalise(said).split())


@dataclass
class ModelCaller:
    """Writes the caller's turns with a chat model at `url` (an OpenAI base URL, …/v1)."""

    url: str
    model: str
    api_key: str = "none"
    max_turns: int = 10
    history: list[dict[str, str]] = field(default_factory=list)

    def system_prompt(self, scenario: Scenario) -> str:
        labels = {f.name: f.description or f.name.replace("_", " ") for f in scenario.fields}
        facts = "\n".join(f"- {labels[n]}: {v.split('|')[0].strip()}" for n, v in _facts(scenario))
        return (
            f"You are a person phoning {scenario.bot.company}. {scenario.caller.persona}. "
            f"Why you call: {scenario.summary}.\nWhat you know:\n{facts}\n"
            "Speak as the caller, one or two short sentences per turn, plain text only. Answer "
            "what you are asked; give a fact only when it fits. When you have nothing left to "
            "say, say goodbye."
        )

    async def next_line(self, client: httpx.AsyncClient, scenario: Scenario, bot: str) -> str:
        """The caller's answer to the bot's last words."""
        if not self.history:
            self.history.append({"role": "system", "content": self.system_prompt(scenario)})
        # Roles swap: the bot's words are the "user" of the caller model.
        self.history.append({"role": "user", "content": bot or "(silence)"})
        response = await client.post(
            f"{self.url.rstrip('/')}/chat/completions",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={
                "model": self.model,
                "messages": self.history,
                "max_tokens": 120,
                "temperature": 0.3,
                "user": f"caller-{scenario.name}",
            },
        )
        response.raise_for_status()
        said = str(response.json()["choices"][0]["message"].get("content") or "").strip()
        self.history.append({"role": "assistant", "content": said})
        return said or "Sorry?"

    def line(self, scenario: Scenario, said: str, already: set[str]) -> Line:
        """`said` as a scenario line: the facts it gives that were not given before."""
        kinds = {f.name: f.type for f in scenario.fields}
        gives = {
            name: value
            for name, value in _facts(scenario)
            if name not in already and mentions(value, kinds[name], said)
        }
        return Line(say=said, gives=gives, hangs_up=bool(BYE.search(said)))


def _facts(scenario: Scenario) -> list[tuple[str, str]]:
    return list(scenario.expected_claim.items())
