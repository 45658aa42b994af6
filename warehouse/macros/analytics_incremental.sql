{#
  Incremental window of the analytics marts (models/marts/analytics): on an incremental run,
  rows from `lookback` days before the newest `key_column` day already built are recomputed
  and replace those days (delete+insert keyed by day); older days are left as they are.
  A full build (first run or --full-refresh) reads everything.
#}
{% macro analytics_cutoff(key_column, truncate='day') -%}
    {%- if is_incremental() -%}
    timezone('UTC', date_trunc('{{ truncate }}',
        (select coalesce(max({{ key_column }}), date '1970-01-01') from {{ this }})
        - {{ var('analytics_lookback_days', 2) }}::integer)::timestamp)
    {%- else -%}
    timestamptz '1970-01-01 00:00:00+00'
    {%- endif -%}
{%- endmacro %}

{% macro utc_date(column) -%}
    timezone('UTC', {{ column }})::date
{%- endmacro %}
