{#- Incremental marts rebuild whole days. BigQuery replaces the day partitions (insert_overwrite);
    DuckDB has no partitions, so it deletes and re-inserts the days (delete+insert on the day key). -#}
{% macro orders_incremental_strategy() -%}
    {{ return(adapter.dispatch('orders_incremental_strategy', 'orders')()) }}
{%- endmacro %}

{% macro bigquery__orders_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{% macro default__orders_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{#- The first day an incremental run rebuilds: run_date minus lookback_days (a cross-database dateadd). -#}
{% macro orders_window_start() -%}
    cast({{ dbt.dateadd('day', -1 * (var('lookback_days') | int), orders_run_date()) }} as date)
{%- endmacro %}

{#- The logical date of the run, as a DATE literal. -#}
{% macro orders_run_date() -%}
    cast('{{ var("run_date") }}' as date)
{%- endmacro %}

{#- Day partitioning of a mart: a BigQuery partition spec; DuckDB tables are not partitioned. -#}
{% macro orders_partition_by(column) -%}
    {{ return(adapter.dispatch('orders_partition_by', 'orders')(column)) }}
{%- endmacro %}

{% macro bigquery__orders_partition_by(column) -%}
    {{ return({'field': column, 'data_type': 'date', 'granularity': 'day'}) }}
{%- endmacro %}

{% macro default__orders_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}
