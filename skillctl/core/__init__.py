"""The ground floor: errors, the subprocess helper, file-system helpers, references, OCI descriptors,
lifecycle states and tag rules, safe YAML, registry credentials, the command deadline, the TLS client
context and bounded parallel reads.

Everything else stands on it; it imports nothing from skillctl outside ``core``.
"""
