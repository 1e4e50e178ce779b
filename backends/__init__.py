"""Registry backends: one module per container tool behind one small interface.

Shipped inside the wheel as ``skillctl.backends`` (a top-level ``backends``
package would clash with other projects).

May import: ``core`` (the subprocess helper, credentials, references, errors).
"""
