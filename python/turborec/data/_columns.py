"""Column conversion shared by the loaders: raw-id columns, ratings and timestamps to numpy, with
errors that name the column and the row."""

from __future__ import annotations

import numpy as np

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _pandas(what: str):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is installed in every test environment
        raise ImportError(f"{what} needs pandas: pip install 'turborec[data]'") from None
    return pd


# ---- column conversion ----------------------------------------------------------------------------

def _is_pandas(x) -> bool:
    mod = type(x).__module__
    return mod.startswith("pandas") and hasattr(x, "dtype")


def _asarray(x) -> np.ndarray:
    """np.asarray, except that a list mixing strings and numbers stays an object array of both
    (numpy would turn 5 into '5'); numpy string arrays become object arrays."""
    arr = np.asarray(x)
    if arr.dtype.kind in "US":
        if isinstance(x, np.ndarray) or arr.ndim != 1:
            return arr.astype(object)
        obj = np.empty(arr.shape[0], dtype=object)
        obj[:] = list(x)
        return obj
    return arr


def _plain(x, name: str) -> np.ndarray:
    """A 1-d numpy array from a list, numpy array or pandas column (extension dtypes included).

    Nullable numeric pandas columns with missing values become float64 with NaN, so that the
    caller's NaN check reports the row.
    """
    if _is_pandas(x):
        dt = x.dtype
        if isinstance(dt, np.dtype):
            arr = x.to_numpy()
        else:
            pd = _pandas("converting a pandas column")
            api = pd.api.types
            if api.is_datetime64_any_dtype(dt):
                arr = x  # handled by the timestamp converter
            elif (api.is_integer_dtype(dt) or api.is_float_dtype(dt)) and not api.is_bool_dtype(dt):
                if bool(np.asarray(x.isna()).any()):
                    arr = x.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    arr = x.to_numpy(dtype=getattr(dt, "numpy_dtype", np.float64))
            elif api.is_bool_dtype(dt):
                arr = np.asarray(x.to_numpy(dtype=object, na_value=None))
            else:
                arr = x.to_numpy(dtype=object, na_value=None)
    else:
        arr = _asarray(x)
    if getattr(arr, "ndim", 1) != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    return arr


def _object_numbers(arr: np.ndarray, name: str) -> np.ndarray:
    """An object array holding only numbers / None -> float64 (None -> NaN); anything else: TypeError."""
    pd = _pandas("converting object columns")
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("integer", "floating", "mixed-integer-float", "decimal", "empty"):
        raise TypeError(f"{name} must hold real numbers, got values of inferred type {kind!r}")
    return arr.astype(np.float64)


def _show(v) -> str:
    """repr of a raw id without numpy's type wrapper (7, not np.int64(7))."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _ratings_array(x, name: str) -> np.ndarray:
    """Ratings as float64 (finite, within float32 range); NaN/inf raise naming the row."""
    arr = _plain(x, name)
    if arr.dtype == object:
        arr = _object_numbers(arr, name)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got values of dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        i = _first_bad(~finite)
        what = "a missing value (NaN)" if np.isnan(arr[i]) else f"a non-finite value ({arr[i]})"
        raise ValueError(f"{name} has {what} at row {i} (0-based); drop or fill it first")
    if arr.size and np.abs(arr).max() > _FLOAT32_MAX:
        i = _first_bad(np.abs(arr) > _FLOAT32_MAX)
        raise ValueError(f"{name} has {arr[i]} at row {i}, outside the float32 range")
    return arr


def _timestamps_array(x, name: str) -> np.ndarray:
    """Timestamps as int64 or float64. Datetimes become int64 seconds since the Unix epoch (UTC)."""
    if _is_pandas(x) or (isinstance(x, np.ndarray) and x.dtype.kind == "M"):
        pd = _pandas("converting datetime timestamps")
        if pd.api.types.is_datetime64_any_dtype(x.dtype):
            idx = pd.DatetimeIndex(x)
            na = np.asarray(idx.isna())
            if na.any():
                raise ValueError(f"{name} has a missing value (NaT) at row {_first_bad(na)} (0-based)")
            if idx.tz is not None:
                idx = idx.tz_convert("UTC").tz_localize(None)
            secs = (idx - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
            return np.asarray(secs, dtype=np.int64)
    arr = _plain(x, name)
    if arr.dtype == object:
        arr = _object_numbers(arr, name)
    if arr.dtype.kind == "u":
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} has values beyond the int64 range")
        return arr.astype(np.int64)
    if arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
        finite = np.isfinite(arr)
        if not finite.all():
            i = _first_bad(~finite)
            what = "a missing value (NaN)" if np.isnan(arr[i]) else f"a non-finite value ({arr[i]})"
            raise ValueError(f"{name} has {what} at row {i} (0-based)")
        return arr
    raise TypeError(f"{name} must hold integer, float or datetime timestamps, got values of dtype {arr.dtype}")


def _ids_to_numpy(uniques) -> np.ndarray:
    """factorize's uniques (ndarray or pandas Index/ExtensionArray, no missing values) -> ndarray."""
    if isinstance(uniques, np.ndarray):
        arr = uniques
    else:
        dt = uniques.dtype
        if isinstance(dt, np.dtype):
            arr = uniques.to_numpy()
        elif getattr(dt, "kind", "O") in "iufb" and getattr(dt, "numpy_dtype", None) is not None:
            arr = uniques.to_numpy(dtype=dt.numpy_dtype)
        else:
            arr = np.asarray(uniques, dtype=object)
    if arr.dtype.kind in "US":  # fixed-width numpy strings: keep ids as Python objects like pandas
        arr = arr.astype(object)
    return arr


def _factorize(values, name: str):
    """Dense codes (int64, sorted raw-id order where sortable) and the raw ids; missing ids raise."""
    pd = _pandas("mapping raw ids")
    if not _is_pandas(values):
        values = _asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-d, got shape {values.shape}")
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids that cannot be ordered: first-appearance order (still deterministic)
        codes, uniques = pd.factorize(values, sort=False)
    codes = np.asarray(codes)
    if codes.size and codes.min() < 0:
        i = _first_bad(codes < 0)
        raise ValueError(f"{name} has a missing id (NaN/None) at row {i} (0-based)")
    return codes.astype(np.int64, copy=False), _ids_to_numpy(uniques)
