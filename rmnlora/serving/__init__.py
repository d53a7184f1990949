"""The HTTP API (FastAPI): the app ``rmn serve`` runs, its dependencies and one router per resource.

The top layer: it may import every package below it, and only the CLI and the tests import it.
"""
