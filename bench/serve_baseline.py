"""The obvious alternative to ``turborec serve`` for bench/serve_load.py: a minimal FastAPI app
that scores every item with numpy (Q @ p + b), drops seen items and takes the top k with
argpartition. Run: python bench/serve_baseline.py MODEL.npz PORT."""


import sys

import numpy as np


def make_app(model_path):
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    import json

    import turborec

    m = turborec.load(model_path)
    P = np.ascontiguousarray(m.user_factors)
    Q = np.ascontiguousarray(m.item_factors)
    b = np.ascontiguousarray(m.item_bias)
    seen = m.user_items_
    app = FastAPI()

    def top(scores, k):
        part = np.argpartition(-scores, k, axis=-1)[..., :k]
        order = np.argsort(-np.take_along_axis(scores, part, -1), axis=-1, kind="stable")
        return np.take_along_axis(part, order, -1)

    @app.get("/rec/{user}")
    async def rec(user: int, k: int = 10):
        s = Q @ P[user] + b
        s[seen.indices[seen.indptr[user]:seen.indptr[user + 1]]] = -np.inf
        ids = top(s, k)
        return Response(json.dumps({"items": ids.tolist(), "scores": s[ids].tolist()}), media_type="application/json")

    @app.post("/batch")
    async def batch(request: Request):
        body = await request.json()
        users, k = np.asarray(body["users"]), int(body.get("k", 10))
        out = []
        for lo in range(0, users.size, 256):  # bounded memory: 256 x n_items scores at a time
            u = users[lo:lo + 256]
            s = P[u] @ Q.T + b
            rows = seen[u]
            s[np.repeat(np.arange(u.size), np.diff(rows.indptr)), rows.indices] = -np.inf
            ids = top(s, k)
            out += [{"items": r.tolist(), "scores": sc.tolist()} for r, sc in zip(ids, np.take_along_axis(s, ids, 1))]
        return Response(json.dumps({"results": out}), media_type="application/json")

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
