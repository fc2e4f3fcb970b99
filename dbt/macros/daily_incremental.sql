{#- Incremental marts rebuild whole days. BigQuery replaces the day partitions (insert_overwrite);
    DuckDB has no partitions, so it deletes and re-inserts the days (delete+insert on the day key). -#}
{% macro day_incremental_strategy() -%}
    {{ return(adapter.dispatch('day_incremental_strategy', 'platform')()) }}
{%- endmacro %}

{% macro bigquery__day_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{% macro default__day_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{#- The first day an incremental run rebuilds: run_date minus lookback_days (a cross-database dateadd). -#}
{% macro run_window_start() -%}
    cast({{ dbt.dateadd('day', -1 * (var('lookback_days') | int), run_date()) }} as date)
{%- endmacro %}

{#- The logical date of the run, as a DATE literal: PLATFORM_RUN_DATE (what the DAG's dbt step sets), else
    the run_date var. An env var and not a var, so that a new day keeps dbt's partial parse: a changed var
    makes dbt parse the whole project again, a changed env var only the files that read it. -#}
{% macro run_date() -%}
    cast('{{ env_var("PLATFORM_RUN_DATE", var("run_date")) }}' as date)
{%- endmacro %}

{#- Day partitioning of a mart: a BigQuery partition spec; DuckDB tables are not partitioned. -#}
{% macro day_partition_by(column) -%}
    {{ return(adapter.dispatch('day_partition_by', 'platform')(column)) }}
{%- endmacro %}

{% macro bigquery__day_partition_by(column) -%}
    {{ return({'field': column, 'data_type': 'date', 'granularity': 'day'}) }}
{%- endmacro %}

{% macro default__day_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}
