"""A failed Spark task as one clear Python error (instead of a page of JVM stack trace)."""

from __future__ import annotations

import contextlib
import re


class SparkTaskError(RuntimeError):
    """A turborec task failed inside a Spark executor; the message is the executor's Python error."""


def _executor_error(err: BaseException) -> str:
    """The last Python exception line of an executor's traceback, e.g. "ValueError: SGD diverged ..."."""
    text = str(err)
    lines = [ln.strip() for ln in text.splitlines()]
    found = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", ln)
             and not ln.startswith(("org.apache", "py4j", "java.", "pyspark.errors"))]
    return found[-1] if found else (lines[0] if lines else type(err).__name__)


@contextlib.contextmanager
def spark_job(what: str):
    """Run Spark actions for ``what``; a failed job raises SparkTaskError naming it and the cause."""
    try:
        yield
    except SparkTaskError:
        raise
    except Exception as err:  # Py4JJavaError / PythonException / SparkException: not importable without pyspark
        name = type(err).__name__
        if name in ("Py4JJavaError", "PythonException", "SparkException") or "pyspark" in type(err).__module__ \
                or "py4j" in type(err).__module__:
            raise SparkTaskError(f"{what} failed in a Spark task: {_executor_error(err)}") from err
        raise
