"""Input checks on a Spark DataFrame of interactions, before any training job runs.

What the schema tells (missing columns, types) is checked without a job; what needs the data (null
keys, NaN ratings, an empty frame, duplicate (user, item) pairs) is one aggregation and one
``groupBy(...).limit(1)`` query, so a bad input fails in seconds with a message naming the column,
never halfway through training.
"""

from __future__ import annotations

from dataclasses import dataclass

_ID_TYPES = ("IntegerType", "LongType", "ShortType", "ByteType", "StringType", "DoubleType", "FloatType",
             "DecimalType")
_VALUE_TYPES = ("IntegerType", "LongType", "ShortType", "ByteType", "DoubleType", "FloatType", "DecimalType",
                "BooleanType")


@dataclass(frozen=True)
class RatingStats:
    """What the checks learned on the way (reused by the fits: no second pass)."""

    n: int
    mean: float
    std: float
    low: float
    high: float


def _check_dataframe(df, name: str = "df"):
    try:
        from pyspark.sql import DataFrame
    except ImportError as e:  # pragma: no cover - the extra is missing
        raise ImportError("turborec.spark needs pyspark: pip install 'turborec[spark]'") from e
    if not isinstance(df, DataFrame):
        raise TypeError(f"{name} must be a pyspark.sql.DataFrame, got {type(df).__name__}")


def check_columns(df, user: str, item: str, rating: str | None) -> None:
    """Schema-only checks: the columns exist once each and have usable types (no Spark job)."""
    _check_dataframe(df)
    fields = {}
    for f in df.schema.fields:
        fields.setdefault(f.name, []).append(f)
    for arg, col, allowed in (("user", user, _ID_TYPES), ("item", item, _ID_TYPES), ("rating", rating, _VALUE_TYPES)):
        if col is None:
            continue
        if not isinstance(col, str):
            raise TypeError(f"{arg} must be a column name (str), got {type(col).__name__}")
        if col not in fields:
            raise ValueError(f"{arg}={col!r} is not a column of df; its columns are {df.columns}")
        if len(fields[col]) > 1:
            raise ValueError(f"{arg}={col!r} names more than one column of df")
        kind = type(fields[col][0].dataType).__name__
        if kind not in allowed:
            raise ValueError(f"{arg} column {col!r} has Spark type {fields[col][0].dataType.simpleString()}; "
                             f"expected one of {', '.join(t[:-4].lower() for t in allowed)}")
    if user == item:
        raise ValueError(f"user and item must be different columns, both are {user!r}")


def check_interactions(df, user: str, item: str, rating: str | None = None, *, duplicates: bool = True) -> RatingStats:
    """All input checks; raises ValueError naming the column, returns the ratings' statistics.

    ``duplicates=False`` skips the duplicate-pair query (a shuffle of every row): for callers that
    sort the pairs anyway and find repeats there (the DSGD fit does, before training).
    """
    from pyspark.sql import functions as F

    check_columns(df, user, item, rating)
    u, i = F.col(user), F.col(item)
    aggs = [F.count(F.lit(1)).alias("n"),
            F.sum(u.isNull().cast("long")).alias("null_user"),
            F.sum(i.isNull().cast("long")).alias("null_item")]
    for col, alias in ((user, "nan_user"), (item, "nan_item")):
        kind = type(df.schema[col].dataType).__name__
        aggs.append(F.sum(F.isnan(F.col(col)).cast("long")).alias(alias) if kind in ("DoubleType", "FloatType")
                    else F.lit(0).alias(alias))
    if rating is not None:
        r = F.col(rating).cast("double")
        aggs += [F.sum(r.isNull().cast("long")).alias("null_rating"),
                 F.sum((F.isnan(r) | (F.abs(r) == float("inf"))).cast("long")).alias("bad_rating"),
                 F.mean(r).alias("mean"), F.stddev_pop(r).alias("std"), F.min(r).alias("low"), F.max(r).alias("high")]
    row = df.agg(*aggs).first().asDict()
    if row["n"] == 0:
        raise ValueError("df is empty: no interactions to work on")
    for key, col in (("null_user", user), ("nan_user", user), ("null_item", item), ("nan_item", item)):
        if row[key]:
            raise ValueError(f"column {col!r} has {row[key]} missing (null/NaN) ids")
    if rating is not None:
        if row["null_rating"]:
            raise ValueError(f"rating column {rating!r} has {row['null_rating']} null values")
        if row["bad_rating"]:
            raise ValueError(f"rating column {rating!r} has {row['bad_rating']} NaN or infinite values")
    error = first_duplicate(df, user, item) if duplicates else None
    if error is not None:
        raise error
    if rating is None:
        return RatingStats(int(row["n"]), 1.0, 0.0, 1.0, 1.0)
    return RatingStats(int(row["n"]), float(row["mean"]), float(row["std"] or 0.0), float(row["low"]),
                       float(row["high"]))


def first_duplicate(df, user: str, item: str) -> ValueError | None:
    """The ValueError naming one repeated (user, item) pair of df, None when there is none (a shuffle
    of every row: callers that sort the pairs anyway count repeats there and call this only to
    name one)."""
    from pyspark.sql import functions as F

    dup = df.groupBy(user, item).count().filter(F.col("count") > 1).limit(1).collect()
    if not dup:
        return None
    return duplicate_error(user, item, dup[0][0], dup[0][1], times=dup[0][2])


def duplicate_error(user: str, item: str, raw_user, raw_item, *, times: int | None = None) -> ValueError:
    occurs = "more than once" if times is None else f"{times} times"
    return ValueError(f"duplicate (user, item) pair: ({user}={raw_user!r}, {item}={raw_item!r}) occurs {occurs}; "
                      f"aggregate first (e.g. df.groupBy({user!r}, {item!r}).agg(...))")
