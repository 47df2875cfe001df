"""The workflow sandbox settings shared by the worker and the replay tests.

These libraries are deterministic but load data lazily (phonenumbers' region metadata, with a
`threading.Lock`; email_validator's submodules), which the sandbox forbids or re-imports in
every run. Passing them through uses the host's copy.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "phonenumbers", "email_validator", "idna", "opentelemetry"
    )
)
