"""The ground floor: errors, the subprocess helper, file-system helpers, references, OCI descriptors,
lifecycle states and tag rules, safe YAML, registry credentials.

Everything else stands on it; it imports nothing from skillctl outside ``core``.
"""
