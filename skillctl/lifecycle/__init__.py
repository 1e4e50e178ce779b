"""The lifecycle on registries and in the store: promotion one step at a time, ``latest`` rules,
safe tag removal.

May import: ``trust`` and everything below it. Independent of ``consume`` and ``airgap``.
"""
