"""``turborec serve --workers N``: uvicorn starts N processes that import the app from here.

uvicorn's multi-process mode needs the app as an import string, so the CLI puts the factory's
keyword arguments in an environment variable the worker processes inherit. Each worker is a full
server with its own model state, result cache and fold-in; they share the event store, and each
folds in the others' events by polling it (or at once via PostgreSQL LISTEN/NOTIFY), like
separate replicas behind one port.
"""

from __future__ import annotations

import json
import os

ENV = "TURBOREC_SERVE_APP_CONFIG"


def export_config(model_path, **kwargs) -> None:
    os.environ[ENV] = json.dumps({"model_path": os.fspath(model_path), **kwargs})


def app_from_env():
    """The uvicorn factory (``turborec.serve.workers:app_from_env``)."""
    from .app import create_app

    config = json.loads(os.environ[ENV])
    return create_app(config.pop("model_path"), **config)
