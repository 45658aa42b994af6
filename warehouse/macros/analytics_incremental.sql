{#
  Incremental window of the analytics marts (models/marts/analytics): on an incremental run,
  rows from `analytics_lookback_days` (default 1: late payments, 24 h click attribution) before
  the newest `key_column` day already built are recomputed and replace those days
  (delete+insert keyed by day); older days are left as they are. A full build (first run or
  --full-refresh) reads everything. The cutoff is computed at compile time so it is a constant
  in the SQL, which DuckDB pushes down into the scans.
#}
{% macro analytics_cutoff(key_column, truncate='day') -%}
    {%- set since = '1970-01-01' -%}
    {%- if execute and is_incremental() -%}
        {%- set sql -%}
            select strftime(date_trunc('{{ truncate }}', coalesce(max({{ key_column }}),
                date '1970-01-01') - {{ var('analytics_lookback_days', 1) }}::integer), '%Y-%m-%d')
            from {{ this }}
        {%- endset -%}
        {%- set since = run_query(sql).columns[0].values()[0] -%}
    {%- endif -%}
    timestamptz '{{ since }} 00:00:00+00'
{%- endmacro %}

{% macro utc_date(column) -%}
    timezone('UTC', {{ column }})::date
{%- endmacro %}
