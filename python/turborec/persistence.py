"""Saving fitted models to one ``.npz`` file and loading them back, without pickle.

``model.save(path)`` writes a fitted model (``model.to_bytes()`` gives the same bytes, to ship a
model to executors or services); :func:`load` reads it back from a path, bytes or a binary file
object as a model of the same class with bit-identical fitted state, so ``predict`` /
``recommend`` / ``similar_*`` give the same results. Loading never runs code from the file: it
uses ``numpy.load(allow_pickle=False)`` and rebuilds the model from plain arrays and JSON.

Models register themselves (:mod:`turborec._registry`): this module does not import them.

File format (``turborec-model``, format version 1)
--------------------------------------------------
A zip archive written by :func:`numpy.savez` (``compress=False``, the default: members stored,
fast to write and read; float factors barely compress) or :func:`numpy.savez_compressed`
(``compress=True``: deflated, smaller for neighbour graphs and interaction matrices). Every member
is a ``.npy`` array of a plain numeric or unicode dtype -- never an object array -- and zip's
per-member CRC-32 detects corruption. The members are

``__metadata__``
    uint8 array holding UTF-8 JSON, an object with:

    ``format``            ``"turborec-model"``
    ``format_version``    int, 1. A reader refuses files newer than it knows.
    ``class``             the model class name (``"ItemKNN"``, ``"UserKNN"``,
                          ``"MatrixFactorization"``)
    ``params``            ``get_params()``; tuples are written as ``{"__tuple__": [...]}``
    ``turborec_version``  the library version that wrote the file
    ``created``           ISO 8601 UTC time of writing
    ``n_users``, ``n_items``, ``nnz``   the size of the training matrix
    ``attributes``        fitted attribute name -> how it is stored: ``{"kind": "array"}`` (member
                          of that name), ``{"kind": "csr", "shape": [n, m]}`` (members
                          ``NAME.data``, ``NAME.indices``, ``NAME.indptr``), ``{"kind":
                          "numpy_scalar"}`` (0-d member), ``{"kind": "json", "value": ...}``
                          (plain Python values such as floats, tuples and the MF ``history_``) or
                          ``{"kind": "quantized", "dtype": "int8"}`` (a :class:`turborec.QuantizedFactors`:
                          members ``NAME.data`` and, for int8, ``NAME.scale``; what a compressed
                          model saves instead of its float32 factors)
    ``ids``               ``user_ids_`` / ``item_ids_`` (raw ids of rows and columns):
                          ``{"kind": "none"}`` (fitted on a bare matrix), ``{"kind": "array"}``
                          (numeric ids, member of that name), ``{"kind": "str"}`` (strings,
                          a numpy unicode member of that name, loaded back as an object array of
                          ``str`` like :class:`turborec.Interactions` has them) or ``{"kind":
                          "json", "value": [...]}`` (ids mixing types, e.g. ints and strings)
    ``arrays``            every other member's name -> ``{"shape": [...], "dtype": "<f4"}``;
                          the loader checks each member against it

``NAME`` members
    The fitted arrays: ``user_items_`` (the training matrix, CSR) and each class's
    ``_saved_attributes`` (and those of its ``_optional_attributes`` that the state it was saved in
    has, e.g. a compressed MatrixFactorization's ``compression_``). State that is derived from them (ItemKNN/UserKNN's transposed rating
    matrices, cached C++ operands) is rebuilt on load instead of stored.

Compatibility: a file keeps loading in every later turborec; a newer format version gets a
``ValueError`` telling you to upgrade.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp

from . import _kernels, _registry
from .quantized import QuantizedFactors

FORMAT_NAME = "turborec-model"
FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


# ---- JSON values ------------------------------------------------------------------------------------

def _to_json(value, what: str):
    """A JSON-able copy of a plain Python value; tuples are tagged so they come back as tuples."""
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v, what) for v in value]}
    if isinstance(value, list):
        return [_to_json(v, what) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot save {what}: a dict with non-str keys")
        if "__tuple__" in value:
            raise TypeError(f"cannot save {what}: a dict with the reserved key '__tuple__'")
        return {k: _to_json(v, what) for k, v in value.items()}
    raise TypeError(f"cannot save {what}: {type(value).__name__} values are not supported in a model file "
                    "(only numbers, strings, booleans, None, lists, tuples and dicts)")


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
            return tuple(_from_json(v) for v in value["__tuple__"])
        return {k: _from_json(v) for k, v in value.items()}
    return value


# ---- writing ----------------------------------------------------------------------------------------

def _check_array(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.hasobject or arr.dtype.kind not in "biufcU":
        raise TypeError(f"cannot save {what}: arrays of dtype {arr.dtype} are not supported (no pickled objects)")
    return arr


def _encode_ids(ids, name: str, arrays: dict) -> dict:
    if ids is None:
        return {"kind": "none"}
    ids = np.asarray(ids)
    if ids.dtype.kind in "biuf":
        arrays[name] = ids
        return {"kind": "array"}
    if ids.dtype.kind in "UO":
        text = ids.astype(str)
        # Only when every id survives as is: not for non-str ids (5 -> "5") nor for ids ending in
        # NUL characters, which numpy unicode arrays drop. Those go through JSON instead.
        if ids.dtype.kind == "U" or np.array_equal(text.astype(object), ids):
            arrays[name] = text
            return {"kind": "str"}
    values = [v.item() if isinstance(v, np.generic) else v for v in ids.tolist()]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise TypeError(f"cannot save {name}: raw ids must be numbers or strings, found {type(v).__name__} "
                            f"{v!r}")
    return {"kind": "json", "value": values}


def _state(model) -> tuple[dict, dict]:
    """(attributes metadata, arrays) for the model's fitted state."""
    arrays: dict[str, np.ndarray] = {}
    attributes: dict[str, dict] = {}
    for name, value in model._saved_state(model._live).items():
        what = f"{type(model).__name__}.{name}"
        if isinstance(value, QuantizedFactors):
            arrays[f"{name}.data"] = _check_array(value.data, what)
            if value.scale is not None:
                arrays[f"{name}.scale"] = _check_array(value.scale, what)
            attributes[name] = {"kind": "quantized", "dtype": value.dtype}
        elif sp.issparse(value):
            csr = value if value.format == "csr" else value.tocsr()
            for part in ("data", "indices", "indptr"):
                arrays[f"{name}.{part}"] = _check_array(getattr(csr, part), what)
            attributes[name] = {"kind": "csr", "shape": [int(s) for s in csr.shape],
                                "sparray": not isinstance(csr, sp.spmatrix)}
        elif isinstance(value, np.ndarray):
            arrays[name] = _check_array(value, what)
            attributes[name] = {"kind": "array"}
        elif isinstance(value, np.generic):
            arrays[name] = _check_array(np.asarray(value), what)
            attributes[name] = {"kind": "numpy_scalar"}
        else:
            attributes[name] = {"kind": "json", "value": _to_json(value, what)}
    return attributes, arrays


def _write(model, f, compress) -> None:
    """The model file into the binary file object f."""
    cls = type(model)
    if not hasattr(model, "_saved_state") or _registry.model_class(cls.__name__) is not cls:
        raise TypeError(f"model must be one of turborec's models {_registry.model_names()}, got {cls.__name__}")
    if not isinstance(compress, bool):
        raise TypeError(f"compress must be a bool, got {type(compress).__name__}")
    model._check_fitted()
    attributes, arrays = _state(model)
    ids = {name: _encode_ids(getattr(model, name, None), name, arrays) for name in ("user_ids_", "item_ids_")}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": cls.__name__,
        "params": _to_json(model.get_params(), f"the parameters of {cls.__name__}"),
        "turborec_version": _kernels.version,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "n_users": int(model.n_users),
        "n_items": int(model.n_items),
        "nnz": int(model.user_items_.nnz),
        "attributes": attributes,
        "ids": ids,
        "arrays": {k: {"shape": [int(s) for s in a.shape], "dtype": a.dtype.str} for k, a in sorted(arrays.items())},
    }
    blob = np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    writer = np.savez_compressed if compress else np.savez
    writer(f, **{METADATA_KEY: blob}, **arrays)


def save(model, path, *, compress: bool = False) -> None:
    """Write a fitted turborec model to ``path`` (one ``.npz`` file; see the module docstring).

    Parameters
    ----------
    model : a fitted turborec model (ItemKNN, UserKNN, MatrixFactorization, Popularity, ...)
    path : str, os.PathLike or a binary file object open for writing
        A path is used exactly as given (no ``.npz`` is appended); the file is written to a
        temporary name beside it and renamed into place, so a crash never leaves a half-written
        model at ``path``. A missing folder raises FileNotFoundError naming ``path``.
    compress : bool
        Deflate the members (smaller, slower to write and read).
    """
    if hasattr(path, "write") and not isinstance(path, (str, os.PathLike)):
        _write(model, path, compress)
        return
    path = _check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            _write(model, f, compress)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def dumps(model, *, compress: bool = False) -> bytes:
    """The bytes :func:`save` would write; :func:`load` (or :func:`loads`) takes them back."""
    buf = io.BytesIO()
    _write(model, buf, compress)
    return buf.getvalue()


# ---- reading ----------------------------------------------------------------------------------------

def _check_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path


class _NotAModel(ValueError):
    pass


def _not_model(path: str, why: str) -> ValueError:
    return _NotAModel(f"{path!r} is not a turborec model file ({why})")


def _read_members(path: str, f, arrays: dict, everything: bool) -> None:
    """The members of the open npz file f (only the metadata unless everything) into arrays;
    container problems become ValueError."""
    pickled = None
    try:
        with np.load(f, allow_pickle=False) as npz:
            if METADATA_KEY not in npz.files:
                raise _not_model(path, f"no {METADATA_KEY!r} entry")
            for name in npz.files if everything else [METADATA_KEY]:
                try:
                    arrays[name] = npz[name]
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    pickled = name
                    break
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        if isinstance(e, _NotAModel):
            raise
        raise ValueError(f"{path!r} is corrupt or truncated: {e}") from None
    if pickled is not None:
        raise ValueError(f"{path!r} holds an object (pickled) array {pickled!r}; turborec model files never do, "
                         "so it is not loaded")


def _source(source):
    """(name for messages, opener of a binary file object) for a path, bytes or a file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return "<bytes>", lambda: io.BytesIO(data)
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        if not hasattr(source, "seek"):  # a pipe or socket: read it once
            data = source.read()
            if not isinstance(data, bytes):
                raise TypeError("the file object must be opened in binary mode ('rb')")
            return "<file>", lambda: io.BytesIO(data)
        name = repr(getattr(source, "name", "<file>"))[1:-1] if hasattr(source, "name") else "<file>"
        return name, lambda: _Borrowed(source)
    path = _check_path(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory, not a turborec model file")
    return path, lambda: open(path, "rb")


class _Borrowed:
    """A caller's file object, used from its current position and never closed."""

    def __init__(self, f):
        self.f = f
        self.start = f.tell()

    def __enter__(self):
        return _Window(self.f, self.start)

    def __exit__(self, *exc):
        return False


class _Window(io.RawIOBase):
    """The caller's file seen from where it stood, so zip offsets start at 0."""

    def __init__(self, f, start):
        self.f, self.start = f, start

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        if whence == 0:
            return self.f.seek(self.start + offset) - self.start
        if whence == 1:
            return self.f.seek(offset, 1) - self.start
        return self.f.seek(offset, 2) - self.start

    def tell(self):
        return self.f.tell() - self.start

    def readinto(self, b):
        data = self.f.read(len(b))
        if not isinstance(data, bytes):
            raise TypeError("the file object must be opened in binary mode ('rb')")
        b[: len(data)] = data
        return len(data)


def _read(source, everything: bool = True) -> tuple[str, dict, dict]:
    """(name, metadata, {member: array}) with every check on the container and the metadata; with
    everything=False only the metadata member is read."""
    path, opener = _source(source)
    arrays: dict[str, np.ndarray] = {}
    # Opened here, not by numpy: np.load leaks its own handle when the zip is unreadable.
    with opener() as f:
        if f.read(4) not in _ZIP_MAGIC:
            raise _not_model(path, "it is not an .npz (zip) archive")
        f.seek(0)
        _read_members(path, f, arrays, everything)
    blob = arrays.pop(METADATA_KEY)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise _not_model(path, f"{METADATA_KEY!r} is not a byte array")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _not_model(path, f"{METADATA_KEY!r} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _not_model(path, f"its format is not {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path!r} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path!r} was written by a newer turborec ({meta.get('turborec_version', '?')}, model "
                         f"format version {version}); this turborec ({_kernels.version}) reads up to version "
                         f"{FORMAT_VERSION}: upgrade turborec (pip install -U turborec) to load it")
    for key, kind in (("class", str), ("params", dict), ("attributes", dict), ("ids", dict), ("arrays", dict)):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{path!r} has invalid metadata: {key!r} is missing or not a {kind.__name__}")
    return path, meta, arrays


def info(path) -> dict:
    """The metadata of a model file: format, version, class, params, sizes, library version, creation
    time and the members' shapes and dtypes (see the module docstring), plus ``file_bytes``.

    Only the metadata member is read (fast for any model size), with :func:`load`'s checks on the
    container and the metadata; the arrays themselves are checked by :func:`load`.
    """
    path = _check_path(path)
    _, meta, _ = _read(path, everything=False)
    meta = dict(meta)
    meta["params"] = _from_json(meta["params"])
    meta["file_bytes"] = os.path.getsize(path)
    return meta


def _csr(path, name, spec, arrays):
    shape = spec.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise ValueError(f"{path!r} has an invalid shape for {name!r}: {shape!r}")
    data, indices, indptr = (arrays[f"{name}.{p}"] for p in ("data", "indices", "indptr"))
    bad = (data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1 or indptr.size != shape[0] + 1
           or indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu" or data.size != indices.size
           or indptr[0] != 0 or indptr[-1] != indices.size or bool((np.diff(indptr) < 0).any())
           or (indices.size and (indices.min() < 0 or indices.max() >= shape[1])))
    if bad:
        raise ValueError(f"{path!r} is inconsistent: {name!r} is not a valid {shape[0]} x {shape[1]} CSR matrix")
    cls = sp.csr_array if spec.get("sparray") else sp.csr_matrix
    m = cls((data, indices, indptr), shape=tuple(shape), copy=False)
    m.data, m.indices, m.indptr = data, indices, indptr  # scipy may narrow index dtypes; keep them exact
    return m


def _quantized(path, name, spec, arrays):
    data, scale = arrays.get(f"{name}.data"), arrays.get(f"{name}.scale")
    if data is None:
        raise ValueError(f"{path!r} is incomplete: missing array {name + '.data'!r}")
    try:
        return QuantizedFactors.from_parts(spec.get("dtype"), data, scale)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path!r} is inconsistent: {name!r}: {e}") from None


def load(source):
    """Load a model written by ``model.save(...)`` / ``model.to_bytes()``.

    Never executes code from the file (``numpy.load(allow_pickle=False)``; object arrays are
    refused) and checks it on the way: a missing file raises FileNotFoundError; a file that is not
    a zip, is truncated or corrupt, is not a turborec model, comes from a newer format version,
    names an unknown model class, lacks arrays, or holds state that breaks the model's invariants
    (shapes that disagree, ...) raises ValueError naming the file.

    Parameters
    ----------
    source : str or os.PathLike, bytes-like, or a binary file object (read from its position)

    Returns
    -------
    A fitted model of the saved class, with the saved parameters, fitted arrays and raw-id maps
    (``user_ids_``, ``item_ids_``). Derived operands are rebuilt; ``n_threads`` is resolved on this
    machine.
    """
    if isinstance(source, str) is False and not isinstance(source, (os.PathLike, bytes, bytearray, memoryview)) \
            and not hasattr(source, "read"):
        raise TypeError(f"source must be a path, bytes or a binary file object, got {type(source).__name__}")
    path, meta, arrays = _read(source)
    name = meta["class"]
    cls = _registry.model_class(name)
    if cls is None:
        raise ValueError(f"{path!r} holds a model of unknown class {name!r}; this turborec knows "
                         f"{_registry.model_names()} (a newer turborec may know it)")
    listed = meta["arrays"]
    missing = sorted(set(listed) - set(arrays))
    if missing:
        raise ValueError(f"{path!r} is incomplete: missing array(s) {missing}")
    for key, spec in listed.items():
        a = arrays[key]
        if not isinstance(spec, dict) or list(a.shape) != spec.get("shape") or a.dtype.str != spec.get("dtype"):
            raise ValueError(f"{path!r} is inconsistent: array {key!r} has shape {a.shape} and dtype {a.dtype.str}, "
                             f"metadata says {spec!r}")
    wanted = ("user_items_",) + tuple(cls._saved_attributes)
    absent = [a for a in wanted if a not in meta["attributes"]]
    if absent:
        raise ValueError(f"{path!r} is incomplete: {name} needs fitted attribute(s) {absent}")
    try:
        model = cls(**_from_json(meta["params"]))
    except TypeError as e:
        raise ValueError(f"{path!r} has parameters that {name} does not take: {e}") from None
    # Attributes a class saves only in some states (a compressed model's setting) load when present.
    wanted += tuple(a for a in getattr(cls, "_optional_attributes", ()) if a in meta["attributes"])
    state = {}
    for attr in wanted:
        spec = meta["attributes"][attr]
        kind = spec.get("kind") if isinstance(spec, dict) else None
        parts = [f"{attr}.{p}" for p in ("data", "indices", "indptr")] if kind == "csr" else [attr]
        if kind in ("csr", "array", "numpy_scalar") and any(p not in listed for p in parts):
            raise ValueError(f"{path!r} is incomplete: missing array(s) for {attr!r}")
        if kind == "quantized":
            value = _quantized(path, attr, spec, arrays)
        elif kind == "csr":
            value = _csr(path, attr, spec, arrays)
        elif kind == "array":
            value = arrays[attr]
        elif kind == "numpy_scalar":
            if arrays[attr].ndim != 0:
                raise ValueError(f"{path!r} is inconsistent: {attr!r} should be a scalar")
            value = arrays[attr][()]
        elif kind == "json":
            value = _from_json(spec.get("value"))
        else:
            raise ValueError(f"{path!r} has an unknown storage kind {kind!r} for {attr!r}")
        state[attr] = value
    ids = {}
    for attr in ("user_ids_", "item_ids_"):
        spec = meta["ids"].get(attr, {"kind": "none"})
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind == "none":
            value = None
        elif kind in ("array", "str"):
            if attr not in listed:
                raise ValueError(f"{path!r} is incomplete: missing array {attr!r}")
            value = arrays[attr]
            if kind == "str":
                if value.dtype.kind != "U":
                    raise ValueError(f"{path!r} is inconsistent: {attr!r} should hold strings")
                value = value.astype(object)
        elif kind == "json" and isinstance(spec.get("value"), list):
            value = np.empty(len(spec["value"]), dtype=object)
            value[:] = spec["value"]
        else:
            raise ValueError(f"{path!r} has an unknown storage kind {kind!r} for {attr!r}")
        ids[attr] = value
    try:
        model._restore_fitted(state, ids["user_ids_"], ids["item_ids_"])
    except (ValueError, TypeError, IndexError, KeyError) as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise ValueError(f"{path!r} is inconsistent: {text}") from None
    return model


def loads(data: bytes):
    """:func:`load` from bytes (what ``model.to_bytes()`` returned)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    return load(data)


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "dumps", "info", "load", "loads", "save"]
