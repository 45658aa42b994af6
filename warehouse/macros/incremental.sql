{#
  Incremental strategies each adapter supports. A model passes its key and gets its config:
  DuckDB replaces the recomputed rows by key (delete+insert); Spark's tables (Parquet) have no
  delete, so a by-day mart is partitioned by its day and overwrites the recomputed partitions
  (insert_overwrite, dynamic), the same result. Pair-keyed fct_interactions has no partition
  to overwrite on Spark: it is rebuilt whole there (a table), equal to the incremental build.
#}
{% macro incremental_by_day(day_column) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
                   'partition_by': [day_column], 'file_format': 'parquet'}) }}
    {%- else -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert',
                   'unique_key': day_column}) }}
    {%- endif -%}
{%- endmacro %}

{% macro incremental_by_pair(key_columns) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
    {%- else -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert',
                   'unique_key': key_columns, 'on_schema_change': 'append_new_columns'}) }}
    {%- endif -%}
{%- endmacro %}
