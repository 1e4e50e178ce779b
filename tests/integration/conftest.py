"""Registry fixtures for the integration tests (defined in tests/registry.py)."""

from __future__ import annotations

from registry import down_registry, no_delete_registry, registry, tls_registry

__all__ = ["down_registry", "no_delete_registry", "registry", "tls_registry"]
