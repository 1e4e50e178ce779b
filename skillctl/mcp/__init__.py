"""Skills over MCP (SEP-2640) straight from OCI images: ``skills/list``, ``skills/get`` and ``resources/read`` of
``skill://<namespace>/<name>/...`` resources, each file's sha256 and size computed from the verified image layer.

``entries`` (URIs, frontmatter as JSON, which version of each skill is served), ``verified`` (the files of verified
layers, by digest), ``sources`` (the catalog's registries and store, installed skills' receipts), ``skills`` (the
service: listings pinned to digests, pagination, reads) know nothing of the protocol library; ``server`` is the only
module that imports the MCP SDK (the ``mcp`` extra), for stdio and for streamable HTTP under ``skillctl serve``.

May import: ``catalog`` and everything below it.
"""
