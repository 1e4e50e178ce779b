"""Registries: backend selection, the read-only registry HTTP client, login, remote inspect and list,
push and pull between a registry and the store.

May import: ``image``, ``store``, ``card``, ``backends``, ``core``.
"""
