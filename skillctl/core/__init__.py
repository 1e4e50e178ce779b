"""The ground floor: errors, the subprocess helper (and git through it), file-system helpers, references, OCI
descriptors and media types, lifecycle states and tag rules, safe YAML, registry credentials and certs.d TLS
material, the command deadline, the TLS client context and bounded parallel reads.

Everything else stands on it; it imports nothing from skillctl outside ``core``.
"""
