"""Checks of docker-compose.temporal.yml and the Dockerfile that need no Docker engine.

Each check returns the problems it finds (empty when the file is right), so a test can show both
that the real file passes and that a broken copy is caught. Interpolation follows the Compose
Specification (`$$`, `${VAR}`, `${VAR:-default}`, `${VAR:?message}`, ...).
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

import yaml
from jsonschema import Draft7Validator
from pydantic import BaseModel, SecretStr

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.temporal.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
SCHEMA_FILE = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"

APP_SERVICES = ("api", "worker", "media-gateway")
# Settings that may stay empty in production; every other secret must be given (`:?`).
OPTIONAL_SECRETS = {"CALLCENTER_TEMPORAL__API_KEY"}

# Plausible production values for every required variable.
SAMPLE_ENV: dict[str, str] = {
    "PUBLIC_HOST": "callcenter.example.com",
    "API_KEY": "0f3c9a1b2d4e5f60718293a4b5c6d7e8",
    "REDIS_PASSWORD": "5e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b",
    "TEMPORAL_DB_PASSWORD": "9a8b7c6d5e4f3a2b1c0d",
    "AZURE_OPENAI_ENDPOINT": "https://my-aoai.openai.azure.com",
    "AZURE_OPENAI_API_KEY": "aoai-key",
    "AZURE_COSMOS_ENDPOINT": "https://my-cosmos.documents.azure.com:443/",
    "AZURE_COSMOS_KEY": "cosmos-key==",
    "AZURE_SEARCH_ENDPOINT": "https://my-search.search.windows.net",
    "AZURE_SEARCH_API_KEY": "search-key",
    "AZURE_SPEECH_KEY": "speech-key",
    "AZURE_SPEECH_REGION": "westeurope",
    "ACS_ENDPOINT": "https://my-acs.france.communication.azure.com",
    "ACS_ACCESS_KEY": "YWNzLWFjY2Vzcy1rZXk=",
    "ACS_PHONE_NUMBER": "+18005550100",
    "ACS_RESOURCE_ID": "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "ACS_COGNITIVE_SERVICES_ENDPOINT": "https://my-ai.cognitiveservices.azure.com/",
    "EVENT_GRID_SECRET": "3c2b1a0f9e8d7c6b",
    "AGENT_PHONE_NUMBER": "+33612345678",
    "CODEC_KEYS": '{"2026-12": "6b1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"}',
    "CODEC_CURRENT_KEY": "2026-12",
    "PHONE_HASH_KEY": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "CALL_SECRET_KEY": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c",
}

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}$]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable is missing, or the syntax is not supported."""


def load(text: str | None = None) -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text() if text is None else text)
    assert isinstance(document, dict)
    return document


def variables(text: str) -> dict[str, str | None]:
    """Every `${VAR...}` of the file: name -> operator (`:?`, `:-`, ...) or None."""
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(text):
        name = match["braced"] or match["bare"]
        if name and (found.get(name) is None):
            found[name] = match["op"]
    return found


def required_messages(text: str) -> dict[str, str]:
    return {m["braced"]: m["arg"] for m in _VARIABLE.finditer(text) if m["op"] in (":?", "?")}


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg, value = match["op"], match["arg"] or "", env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else value is None) else str(value)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else value is None:
                raise InterpolationError(f"required variable {name} is missing: {arg}")
            return str(value)
        if op in (":+", "+"):
            return "" if (unset_or_empty if op == ":+" else value is None) else arg
        return value or ""

    if "$" in _VARIABLE.sub("", text):  # nested defaults, `$1`, a lone `$`...
        raise InterpolationError(f"unsupported interpolation in {text!r}")
    return _VARIABLE.sub(replace, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """The document as Compose sees it: every string value interpolated (keys are not)."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def resolved(document: Mapping[str, Any] | None = None) -> dict[str, Any]:
    resolved_document = interpolate(copy.deepcopy(document or load()), SAMPLE_ENV)
    assert isinstance(resolved_document, dict)
    return resolved_document


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


# --- the checks -----------------------------------------------------------------------------


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    validator = Draft7Validator(json.loads(SCHEMA_FILE.read_text()))
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


def dependency_problems(document: Mapping[str, Any]) -> list[str]:
    services: Mapping[str, Any] = document.get("services", {})
    problems: list[str] = []
    graph: dict[str, list[str]] = {}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        graph[name] = list(depends)
        for target, rule in depends.items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
                continue
            condition = rule.get("condition")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} waits for {target} to be healthy: it has no healthcheck")
            if condition == "service_completed_successfully" and services[target].get(
                "restart", "no"
            ) not in ("no", False):
                problems.append(f"{name} waits for {target} to complete: it must not restart")
    problems.extend(f"dependency cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph))
    return problems


def _cycles(graph: Mapping[str, list[str]]) -> Iterator[list[str]]:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> Iterator[list[str]]:
        if node in path:
            yield [*path[path.index(node) :], node]
            return
        if node in done:
            return
        for target in graph.get(node, []):
            yield from visit(target, [*path, node])
        done.add(node)

    for node in graph:
        yield from visit(node, [])


def pinning_problems(document: Mapping[str, Any], project_version: str) -> list[str]:
    problems = []
    for name, service in document.get("services", {}).items():
        image = str(service.get("image", ""))
        if not image:
            problems.append(f"{name} has no image")
            continue
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag or tag in ("", "latest") or not re.search(r"\d", tag):
            problems.append(f"{name}: image {image} has no pinned version tag")
        if name in APP_SERVICES:
            if "build" not in service:
                problems.append(f"{name} is not built from the Dockerfile")
            if tag != project_version:
                problems.append(f"{name}: image tag {tag} is not the project version")
    return problems


def scaling_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for name in ("worker", "media-gateway"):
        service = document["services"].get(name, {})
        if "container_name" in service:
            problems.append(f"{name} has a container_name: it cannot scale")
        if service.get("ports"):
            problems.append(f"{name} publishes host ports: replicas would collide")
    return problems


def undocumented_variables(compose_text: str, guide_text: str) -> list[str]:
    return sorted(
        name
        for name in variables(compose_text)
        if not re.search(rf"`{re.escape(name)}`", guide_text)
    )


def secret_problems(document: Mapping[str, Any]) -> list[str]:
    """Secrets must be required (`${VAR:?message}`), never defaulted, in every app service."""
    problems = []
    for name in APP_SERVICES:
        for key, value in environment(document["services"][name]).items():
            if not key.startswith("CALLCENTER_") or key in OPTIONAL_SECRETS:
                continue
            if _is_secret(_field_path(key)) and not re.fullmatch(
                r"[^$]*\$\{[A-Z0-9_]+:\?[^}]+\}[^$]*", value
            ):
                problems.append(f"{name}: {key} is a secret but not required with a message")
    return problems


def settings_problems(env: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    """Load the settings from `env` and check each CALLCENTER_* variable reached its setting."""
    problems = []
    for key in env:
        if key.startswith("CALLCENTER_") and _field_path(key) is None:
            problems.append(f"{key} names no setting of core/settings.py")
    if problems:
        return None, problems
    with _only_environment(env):
        settings = Settings()
    for key, expected in env.items():
        if key.startswith("CALLCENTER_"):
            actual = _normalise(_value_at(settings, key))
            if actual != _normalise_text(expected, actual):
                problems.append(f"{key}={expected!r} was read as {actual!r}")
    return settings, problems


def _field_path(key: str) -> list[Any] | None:
    """The pydantic fields a CALLCENTER_A__B variable walks through, or None if one is missing."""
    model: type[BaseModel] | None = Settings
    fields = []
    for part in key.removeprefix("CALLCENTER_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        fields.append(field)
        model = next(
            (
                t
                for t in (field.annotation, *get_args(field.annotation))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
    return fields


def _is_secret(fields: list[Any] | None) -> bool:
    if not fields:
        return False
    annotation = fields[-1].annotation
    inner = (annotation, *get_args(annotation))
    return any(t is SecretStr or SecretStr in get_args(t) for t in inner)


def _value_at(settings: Settings, key: str) -> Any:
    value: Any = settings
    for part in key.removeprefix("CALLCENTER_").lower().split("__"):
        value = getattr(value, part)
    return value


def _normalise(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return ""
    return str(value)


def _normalise_text(text: str, like: Any) -> Any:
    return json.loads(text) if isinstance(like, list | dict) else text


@contextmanager
def _only_environment(env: Mapping[str, str]) -> Iterator[None]:
    """`env` without any other CALLCENTER_* variable, in an empty directory (no config.yaml)."""
    saved, cwd = dict(os.environ), Path.cwd()
    with tempfile.TemporaryDirectory() as empty:
        try:
            for key in [k for k in os.environ if k.startswith("CALLCENTER_")]:
                del os.environ[key]
            os.environ.update(env)
            os.chdir(empty)
            yield
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)
