"""Trust: signing keys, signatures in cosign's formats, and the verifiers that ``pull`` and ``install`` run
before anything is stored.

May import: ``registry`` and everything below it.
"""
