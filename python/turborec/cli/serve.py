"""``turborec serve``: run the HTTP service on a saved model (needs the 'serve' extra)."""

from __future__ import annotations

import sys


def add_parser(subparsers):
    p = subparsers.add_parser("serve", help="serve a saved model over HTTP, with feedback and fold-in",
                              description="Serve recommendations for a saved model, store feedback durably and "
                                          "fold it in online. Write and admin endpoints need a bearer token from "
                                          "$TURBOREC_SERVE_TOKEN or --token-file.")
    p.add_argument("--model", required=True, help="model file written by model.save / turborec train")
    p.add_argument("--events", default="sqlite:///turborec-events.db",
                   help="SQLAlchemy URL of the event store (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token-file", default=None, help="file holding the bearer token")
    p.add_argument("--protect-reads", action="store_true", help="require the token for reads too")
    p.add_argument("--cold-start", choices=("popularity", "error"), default="popularity")
    p.add_argument("--max-k", type=int, default=1000)
    p.add_argument("--max-batch", type=int, default=10_000)
    p.add_argument("--max-body-bytes", type=int, default=4 << 20)
    p.add_argument("--cache-size", type=int, default=100_000)
    p.add_argument("--poll-interval", type=float, default=1.0,
                   help="seconds between reads of other processes' events (default: %(default)s)")
    p.add_argument("--sqlite-synchronous", default="FULL", choices=("OFF", "NORMAL", "FULL", "EXTRA"))
    p.add_argument("--watch-interval", type=float, default=2.0,
                   help="seconds between checks of the model file: when it is replaced (write the new file, then "
                        "rename it over the path), the service swaps to it; a file that fails to load is refused "
                        "and the current model keeps serving; 0 turns the watch off (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes on the port (each with its own model state and cache; they share "
                        "the event store and fold in each other's events by polling it; default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.workers < 1:
        print(f"turborec serve: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    options = dict(events_url=args.events, token_file=args.token_file, protect_reads=args.protect_reads,
                   cold_start=args.cold_start, max_k=args.max_k, max_batch=args.max_batch,
                   max_body_bytes=args.max_body_bytes, cache_size=args.cache_size,
                   poll_interval=args.poll_interval, sqlite_synchronous=args.sqlite_synchronous,
                   watch_interval=args.watch_interval)
    try:
        import uvicorn

        from ..serve import create_app

        # built here even with several workers: a bad model file or option fails once, in one line
        app = create_app(args.model, **options)
    except (ImportError, OSError, ValueError, KeyError) as err:
        print(f"turborec serve: {err}", file=sys.stderr)
        return 2
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return 0
    from ..serve.workers import export_config

    app.state.store.close()
    del app
    export_config(args.model, **options)
    uvicorn.run("turborec.serve.workers:app_from_env", factory=True, workers=args.workers, host=args.host,
                port=args.port, log_level=args.log_level)
    return 0
