{#
  Incremental window of the analytics marts (models/marts/analytics): on an incremental run,
  rows from `analytics_lookback_days` (default 1: late payments, 24 h click attribution) before
  the newest `key_column` day already built are recomputed and replace those days
  (incremental_by_day: delete+insert keyed by day, or a partition overwrite on Spark); older
  days are left as they are. A full build (first run or --full-refresh) reads everything. The
  cutoff is computed at compile time so it is a constant in the SQL, which the engine pushes
  down into the scans.
#}
{% macro analytics_cutoff(key_column, truncate='day') -%}
    {%- set since = '1970-01-01' -%}
    {%- if execute and is_incremental() -%}
        {%- set sql = adapter.dispatch('analytics_cutoff_sql')(
            key_column, truncate, var('analytics_lookback_days', 1)) -%}
        {%- set since = run_query(sql).columns[0].values()[0] -%}
    {%- endif -%}
    {{ utc_timestamp(since ~ ' 00:00:00') }}
{%- endmacro %}

{% macro default__analytics_cutoff_sql(key_column, truncate, lookback_days) -%}
    select strftime(date_trunc('{{ truncate }}', coalesce(max({{ key_column }}),
        date '1970-01-01') - {{ lookback_days }}::integer), '%Y-%m-%d')
    from {{ this }}
{%- endmacro %}

{% macro spark__analytics_cutoff_sql(key_column, truncate, lookback_days) -%}
    select date_format(date_trunc('{{ truncate }}', date_sub(coalesce(max({{ key_column }}),
        date '1970-01-01'), {{ lookback_days }})), 'yyyy-MM-dd')
    from {{ this }}
{%- endmacro %}
