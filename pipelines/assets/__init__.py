"""Assets grouped by domain. Each module exposes ``ASSETS`` and may expose ``CHECKS``,
``JOBS``, ``SCHEDULES`` and ``SENSORS``; ``pipelines/definitions.py`` collects them."""
