"""``skillctl serve``: the catalog over HTTP: the Go tool's REST API and more, a server-rendered web UI, auth, TLS,
metrics, and the Kubernetes manifests to run it.

The web stack (Starlette, uvicorn, Jinja2, markdown-it-py, bcrypt) is the optional ``serve`` extra and is imported
only by the modules that need it, only when ``skillctl serve`` runs; ``settings`` and ``deploy`` need none of it.
``app.create_app(catalog, settings)`` builds the ASGI app, so other front ends can be mounted beside it.

May import: ``catalog`` and everything below it.
"""
