"""The workflow sandbox settings shared by the worker and the replay tests.

`domain` is pure and deterministic: passing it through keeps one copy of each model class
(a copy re-imported inside the sandbox would not validate as the host's class).

These libraries are deterministic but load data lazily (phonenumbers' region metadata, with a
`threading.Lock`; email_validator's submodules), which the sandbox forbids or re-imports in
every run. Passing them through uses the host's copy.

`cryptography` (the payload codec's, never called by workflow code) is a Rust extension that
cannot be initialised twice: a workflow defined in a module that imports the codec would fail
validation if the sandbox re-imported it.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "domain", "phonenumbers", "email_validator", "idna", "opentelemetry", "cryptography"
    )
)
