"""The ground floor: errors, the subprocess helper (and git through it), file-system helpers, references, OCI
descriptors and media types, lifecycle states and tag rules, safe YAML, registry credentials.

Everything else stands on it; it imports nothing from skillctl outside ``core``.
"""
