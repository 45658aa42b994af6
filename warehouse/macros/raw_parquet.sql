{#
  The raw sources on Spark: one external Parquet table per source table in schema raw, over
  $SHOPFLOW_SPARK_DIR/raw/<table>/ (written from the validated raw layer by
  pipelines/spark_warehouse.py). Re-registered at the start of every run so a new export's
  files and columns are read. On DuckDB the raw tables live in the warehouse file: nothing to do.
#}
{% macro register_raw_parquet() -%}
    {{ return(adapter.dispatch('register_raw_parquet')()) }}
{%- endmacro %}

{% macro default__register_raw_parquet() -%}
    select 1
{%- endmacro %}

{% macro spark__register_raw_parquet() -%}
    {%- if execute -%}
        {%- set root = env_var('SHOPFLOW_SPARK_DIR', '../data/spark') ~ '/raw' -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- set tables = [] -%}
        {%- for node in graph.sources.values() if node.schema == 'raw' -%}
            {%- if node.identifier not in tables -%}{%- do tables.append(node.identifier) -%}{%- endif -%}
        {%- endfor -%}
        {%- for table in tables -%}
            {%- do run_query('drop table if exists raw.' ~ table) -%}
            {%- do run_query('create table raw.' ~ table ~ " using parquet location '"
                ~ root ~ '/' ~ table ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
