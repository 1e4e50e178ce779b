"""Trust: signing keys, signatures in cosign's two formats (the legacy ``.sig`` image and Sigstore bundle
referrers), keyless verification against a trusted root, the containers signature policy, and the verifiers that
``pull``, ``install`` and ``mirror`` run before anything is stored.

Entry points: ``signing`` (sign, verify, formats_present), ``verifiers`` (pull verifiers from a key, an identity,
a policy), ``policy`` (containers-policy.json). Below them: ``keys``, ``simplesigning``, ``bundle`` (bundles, DSSE,
in-toto: reusable for attestations), ``referrers``, ``transparency``, ``trustroot``, ``keyless``, ``evidence``.

May import: ``registry`` and everything below it.
"""
