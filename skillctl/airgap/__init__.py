"""Air gaps: mirror between registries, save to and load from one-file bundles.

May import: ``trust`` and everything below it. Independent of ``lifecycle`` and ``consume``.
"""
