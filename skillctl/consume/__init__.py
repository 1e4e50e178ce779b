"""Consuming skills: install, upgrade and uninstall for agents with receipts, collections, Git sources,
Kubernetes ImageVolume manifests.

May import: ``trust`` and everything below it. Independent of ``lifecycle`` and ``airgap``.
"""
