"""The one Spark session of a process: the warehouse on dbt-spark and ALS on MLlib share it.

Spark runs on the JVM: without Java the session fails with a message naming the package to
install, instead of py4j's "Java gateway process exited".
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from shopflow.config import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JAVA_HINT = (
    "Spark needs Java 17+: install it with `apt-get install -y openjdk-17-jre-headless` "
    "(Debian/Ubuntu; `make java` does it) or set JAVA_HOME to a JDK/JRE"
)


class SparkUnavailable(RuntimeError):
    """No Spark session can start here (no Java, or the JVM failed)."""


def java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def require_java() -> str:
    """The java executable, or SparkUnavailable saying how to install it."""
    java = java_executable()
    if java is None:
        raise SparkUnavailable(f"no Java found. {JAVA_HINT}")
    return java


def session_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the warehouse session: UTC, small shuffles, a persistent metastore and
    warehouse under ``settings.spark_dir`` (so tables outlive the process, as dbt expects)."""
    spark_dir = settings.spark_dir
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(spark_dir / "tables"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={spark_dir / 'metastore'};create=true"
        ),
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.ansi.enabled": "false",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={spark_dir}",
    }


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The process's Spark session (created once with ``session_conf``, Hive catalog)."""
    settings = settings or get_settings()
    require_java()
    from pyspark.sql import SparkSession

    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    if settings.spark_master.startswith("local"):  # tasks import Shopflow's modules: this Python
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.spark_master).appName("shopflow")
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    try:
        session = builder.enableHiveSupport().getOrCreate()
    except Exception as exc:  # the JVM did not start: py4j's error names no cause
        raise SparkUnavailable(f"the Spark session did not start ({exc}). {JAVA_HINT}") from exc
    session.sparkContext.setLogLevel("ERROR")
    # without a checkpoint directory, MLlib's ALS lineage grows with each iteration until a
    # task's deserialisation overflows the stack (about 40 iterations on MovieLens 100K)
    checkpoints = settings.spark_checkpoint_dir or str(settings.spark_dir / "checkpoints")
    session.sparkContext.setCheckpointDir(checkpoints)
    return session
