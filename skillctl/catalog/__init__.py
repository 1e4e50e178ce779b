"""The catalog: an index of the skill versions that registries and the local store hold, kept in step by an
incremental sync, with search, file listings and content read on demand from layers, signature status and diffs.

``service.Catalog`` is the one object the web server (``skillctl.serve``) and other front ends use. Nothing here
speaks HTTP to clients or imports a web framework.

May import: ``airgap``, ``consume``, ``lifecycle``, ``trust``, ``registry``, ``image``, ``store``, ``card``,
``backends``, ``core``.
"""
