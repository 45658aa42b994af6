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
        select null::varchar as user_id, null::varchar as item_id, null::varchar as event_type,
            null::timestamptz as occurred_at, null::timestamptz as loaded_at
        where false
    {%- endset -%}
    {%- if not execute -%}
        {{ return(empty) }}
    {%- endif -%}
    {%- set sql -%}
        select w.event_type, w.raw_table, count(c.column_name) as keys
        from {{ source('raw', 'event_weights') }} w
        left join information_schema.columns c
            on c.table_schema = 'raw' and c.table_name = w.raw_table
            and c.column_name in ('user_id', 'item_id')
        group by all
        order by w.event_type
    {%- endset -%}
    {%- set parts = [] -%}
    {%- for event_type, raw_table, keys in run_query(sql).rows -%}
        {%- if event_type == 'purchase' -%}
            {%- do parts.append(
                "select user_id, item_id, 'purchase' as event_type, occurred_at, loaded_at from "
                ~ ref('stg_order_lines')) -%}
        {%- elif keys == 2 -%}
            {%- set relation = api.Relation.create(
                database=target.database, schema='raw', identifier=raw_table) -%}
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
            {%- set sql -%}
                select strftime(case
                    when max(loaded_at) is null
                        or (select max(changed_at) from {{ source('raw', 'event_weights') }})
                            > max(loaded_at)
                    then timestamp '1970-01-01'
                    else timezone('UTC', max(loaded_at))
                        - to_hours({{ var('interactions_lookback_hours', 1) }}::integer)
                end, '%Y-%m-%d %H:%M:%S.%f')
                from {{ this }}
            {%- endset -%}
            {%- set since = run_query(sql).columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    timestamptz '{{ since }}+00'
{%- endmacro %}
