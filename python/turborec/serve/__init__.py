"""turborec's HTTP service: ``pip install "turborec[serve]"`` (FastAPI, uvicorn, SQLAlchemy, prometheus-client).

``create_app(model_path, events_url=..., token=...)`` returns the ASGI app; ``turborec serve``
(or ``python -m turborec.serve serve``) runs it with uvicorn. See app.py for the endpoints.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(model_path, **kwargs):
    """Build the ASGI app; see :func:`turborec.serve.app.create_app` for the options."""
    try:
        from .app import create_app as _create
    except ImportError as exc:  # the optional extra is missing
        raise ImportError(f"turborec.serve needs the 'serve' extra: pip install \"turborec[serve]\" ({exc})") from None
    return _create(model_path, **kwargs)
