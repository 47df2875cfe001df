# syntax=docker/dockerfile:1
# One image for the three processes; the command picks one (docker-compose.temporal.yml):
#   python -m api.main        the HTTP API, port 8080 (the default command)
#   python -m worker          a Temporal worker
#   python -m media_gateway   a media gateway, port 8090
# No HEALTHCHECK here: each process has its own (GET /health/readiness, GET /health, a task-queue
# poller check), written in the compose file with the image's Python: no curl needed.
# Production speaks through Azure Speech: the image carries neither the local speech and LLM
# engines and models (extras local-speech, local-llm), nor the embedded Temporal/Redis
# (local-services), nor the ACS emulator, the scripted LLM, the evaluations or the tests
# (.dockerignore). Turn-taking still runs the Silero VAD: its 1.2 MB model file is taken out of
# the faster-whisper wheel at build time, checked against its pinned sha256, and copied in alone.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
# Not the dev or local-llm extras.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY . .
RUN pip install --no-deps .
RUN pip download --quiet --no-deps --dest /tmp/wheels "faster-whisper>=1.2.1,<1.3" \
 && python -m zipfile -e /tmp/wheels/faster_whisper-*.whl /tmp/faster-whisper \
 && PYTHONPATH=/tmp/faster-whisper CALLCENTER_MODELS=/opt/models \
    python -c "from providers.speech.models import silero_vad_path; print(silero_vad_path())"

FROM ${PYTHON_IMAGE}
# tini: PID 1 forwards SIGTERM (Python as PID 1 would ignore it); libasound2: the Speech SDK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libasound2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app callcenter \
 && install -d -o callcenter -g callcenter /app /var/lib/callcenter/models
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=callcenter:callcenter /opt/models /var/lib/callcenter/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CALLCENTER_MODELS=/var/lib/callcenter/models
WORKDIR /app
USER callcenter
EXPOSE 8080 8090
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "api.main"]
