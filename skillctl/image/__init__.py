"""Skill images: the reproducible layer, ``pack`` into the store, and the hardened unpack.

May import: ``store``, ``card``, ``core``.
"""
