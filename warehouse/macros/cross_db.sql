{#
  Functions whose spelling differs between the warehouse engines (DuckDB by default, Spark
  through dbt-spark), each dispatched on the adapter: `default__` is DuckDB's (and any engine
  that shares its spelling), `spark__` Spark SQL's. Models call these instead of an
  engine-only function; dbt's own cross-database macros (dbt.datediff, dbt.type_string, ...)
  cover the rest.
#}

{# The value of `value` on the row with the greatest `order` (a column, or a list of columns
   compared in turn). Rows with a null `order` are ignored. #}
{% macro arg_max(value, order) -%}
    max_by({{ value }}, {{ sort_key(order) }})
{%- endmacro %}

{% macro arg_min(value, order) -%}
    min_by({{ value }}, {{ sort_key(order) }})
{%- endmacro %}

{% macro sort_key(order) -%}
    {{ return(adapter.dispatch('sort_key')(order)) }}
{%- endmacro %}

{% macro default__sort_key(order) -%}
    {%- if order is string -%}{{ order }}{%- else -%}row({{ order | join(', ') }}){%- endif -%}
{%- endmacro %}

{% macro spark__sort_key(order) -%}
    {%- if order is string -%}{{ order }}{%- else -%}struct({{ order | join(', ') }}){%- endif -%}
{%- endmacro %}

{# The most frequent value of `column` per group (ties: the smallest), as a subquery over
   `relation` grouped by `key`: deterministic on every engine (DuckDB's mode() is not). #}
{% macro most_frequent(relation, key, column) -%}
    select {{ key }}, {{ column }}
    from (
        select {{ key }}, {{ column }}, row_number() over (
            partition by {{ key }} order by count(*) desc, {{ column }}) as frequency_rank
        from {{ relation }}
        group by {{ key }}, {{ column }}
    ) ranked
    where frequency_rank = 1
{%- endmacro %}

{# The UTC calendar date of a timestamp (Spark sessions run in UTC: shopflow/spark.py). #}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    timezone('UTC', {{ column }})::date
{%- endmacro %}

{% macro spark__utc_date(column) -%}
    to_date({{ column }})
{%- endmacro %}

{# A UTC timestamp literal from 'YYYY-MM-DD HH:MM:SS[.ffffff]'. #}
{% macro utc_timestamp(text) -%}
    {{ return(adapter.dispatch('utc_timestamp')(text)) }}
{%- endmacro %}

{% macro default__utc_timestamp(text) -%}
    timestamptz '{{ text }}+00'
{%- endmacro %}

{% macro spark__utc_timestamp(text) -%}
    timestamp '{{ text }}'
{%- endmacro %}

{# The type of an instant (raw occurred_at, _loaded_at). #}
{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant')()) }}
{%- endmacro %}

{% macro default__type_instant() -%}timestamptz{%- endmacro %}

{% macro spark__type_instant() -%}timestamp{%- endmacro %}

{# The number of elements of an array (list) column. #}
{% macro array_length(column) -%}
    {{ return(adapter.dispatch('array_length')(column)) }}
{%- endmacro %}

{% macro default__array_length(column) -%}
    len({{ column }})
{%- endmacro %}

{% macro spark__array_length(column) -%}
    size({{ column }})
{%- endmacro %}

{# One row per element of an array column, in a select list. #}
{% macro unnest_array(column) -%}
    {{ return(adapter.dispatch('unnest_array')(column)) }}
{%- endmacro %}

{% macro default__unnest_array(column) -%}
    unnest({{ column }})
{%- endmacro %}

{% macro spark__unnest_array(column) -%}
    explode({{ column }})
{%- endmacro %}
