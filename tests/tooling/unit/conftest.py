"""Tooling tests (bench, deploy packaging, simulators, emulators, docs, ops scripts), offline: the unit tier's clean
environment and moto, the same fixtures as tests/unit, kept apart from the domain's tests."""

from tests.unit.conftest import aws, hermetic_env, settings, sqs_client  # noqa: F401 (fixtures)
