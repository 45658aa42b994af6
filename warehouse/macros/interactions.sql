{#
  The weighted user x item events behind fct_interactions, one row each:
  (user_id, item_id, event_type, occurred_at, loaded_at), for every event type listed in
  raw.event_weights (written from shopflow.events.INTERACTION_WEIGHTS, the one home of the
  weights): each type is read from its raw table, and 'purchase' is one order line
  (stg_order_lines; a model using this macro declares `-- depends_on: ref('stg_order_lines')`).
  A weighted type whose raw table has no user_id and item_id stops the build, naming it.
#}
{% macro interaction_events() -%}
    {%- set empty -%}
        select cast(null as {{ dbt.type_string() }}) as user_id,
            cast(null as {{ dbt.type_string() }}) as item_id,
            cast(null as {{ dbt.type_string() }}) as event_type,
            cast(null as {{ type_instant() }}) as occurred_at,
            cast(null as {{ type_instant() }}) as loaded_at
        where false
    {%- endset -%}
    {%- if not execute -%}
        {{ return(empty) }}
    {%- endif -%}
    {%- set sql -%}
        select event_type, raw_table from {{ source('raw', 'event_weights') }} order by event_type
    {%- endset -%}
    {%- set parts = [] -%}
    {%- for event_type, raw_table in run_query(sql).rows -%}
        {%- set relation = api.Relation.create(
            database=source('raw', 'event_weights').database, schema='raw', identifier=raw_table) -%}
        {%- set keys = adapter.get_columns_in_relation(relation) | map(attribute='name')
            | select('in', ['user_id', 'item_id']) | list | length -%}
        {%- if event_type == 'purchase' -%}
            {%- do parts.append(
                "select user_id, item_id, 'purchase' as event_type, occurred_at, loaded_at from "
                ~ ref('stg_order_lines')) -%}
        {%- elif keys == 2 -%}
            {%- do parts.append(
                "select user_id, item_id, event_type, occurred_at, _loaded_at as loaded_at from "
                ~ relation) -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error(
                "event type '" ~ event_type ~ "' has an interaction weight "
                ~ "(shopflow.events.INTERACTION_WEIGHTS) but no raw table with user_id and "
                ~ "item_id, so it cannot be an interaction") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parts | join('\n    union all\n    ') if parts else empty) }}
{%- endmacro %}

{#
  Incremental window of fct_interactions, by load time rather than event time so late events
  count too: a run recomputes every user x item pair with an event loaded since the newest
  load it has seen minus var interactions_lookback_hours (default 1), and every pair when the
  weights changed since (raw.event_weights.changed_at) or the table predates loaded_at or
  the rating columns.
#}
{% macro interactions_cutoff() -%}
    {%- set since = '1970-01-01 00:00:00' -%}
    {%- if execute and is_incremental() -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- if 'loaded_at' in columns and 'disliked' in columns -%}
            {%- set sql = adapter.dispatch('interactions_cutoff_sql')(
                var('interactions_lookback_hours', 1)) -%}
            {%- set since = run_query(sql).columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ utc_timestamp(since) }}
{%- endmacro %}

{% macro default__interactions_cutoff_sql(lookback_hours) -%}
    select strftime(case
        when max(loaded_at) is null
            or (select max(changed_at) from {{ source('raw', 'event_weights') }})
                > max(loaded_at)
        then timestamp '1970-01-01'
        else timezone('UTC', max(loaded_at)) - to_hours({{ lookback_hours }}::integer)
    end, '%Y-%m-%d %H:%M:%S.%f')
    from {{ this }}
{%- endmacro %}

{% macro spark__interactions_cutoff_sql(lookback_hours) -%}
    select date_format(case
        when max(loaded_at) is null
            or (select max(changed_at) from {{ source('raw', 'event_weights') }})
                > max(loaded_at)
        then timestamp '1970-01-01'
        else max(loaded_at) - make_interval(0, 0, 0, 0, {{ lookback_hours }})
    end, 'yyyy-MM-dd HH:mm:ss.SSSSSS')
    from {{ this }}
{%- endmacro %}
