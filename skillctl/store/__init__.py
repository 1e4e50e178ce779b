"""The local store: an OCI image layout (index, blobs, locks) and the operations on it
(list, inspect, tag, rm, prune).

May import: ``core``.
"""
