"""A local SparkSession that runs turborec inside its executors (what tests, the bench and the README use)."""

from __future__ import annotations

import os
import sys


def local_session(master: str = "local[2]", *, app_name: str = "turborec", shuffle_partitions: int = 4,
                  task_cpus: int = 1, conf: dict | None = None):
    """Get or create a SparkSession whose Python workers run this interpreter.

    Executors must import the same turborec (and its compiled kernels) as the driver, so
    ``PYSPARK_PYTHON`` / ``PYSPARK_DRIVER_PYTHON`` are set to ``sys.executable`` unless the caller
    set them. The UI is off and shuffles use few partitions: the defaults suit one machine.
    ``task_cpus`` is Spark's ``spark.task.cpus``: turborec's kernels run that many threads per task.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
               .config("spark.default.parallelism", str(int(shuffle_partitions)))
               .config("spark.task.cpus", str(int(task_cpus)))
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.python.worker.reuse", "true")
               .config("spark.sql.adaptive.enabled", "false"))  # tiny stages: no re-planning between them
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()
