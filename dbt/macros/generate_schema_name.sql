{#- The dataset of a node follows from its folder, for every domain alike:
    models/<domain>/staging/...  -> the staging dataset (PLATFORM_DATASET_STAGING)
    models/<domain>/marts/...    -> the marts dataset (PLATFORM_DATASET_MARTS)
    snapshots/<domain>/...       -> the marts dataset (history dbt keeps; it cannot be rebuilt)
    An explicit `schema` config wins. Datasets are the environment's, given whole: never prefixed. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- elif platform_layer(node) == 'staging' -%}
        {{ env_var('PLATFORM_DATASET_STAGING', 'staging') }}
    {%- elif platform_layer(node) == 'marts' -%}
        {{ env_var('PLATFORM_DATASET_MARTS', 'marts') }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}

{#- `staging` or `marts` for a model (the folder under its domain's folder) or a snapshot (`marts`);
    none for other nodes (tests, seeds). A model outside both folders is refused: its layer, dataset
    and materialization would be a guess. -#}
{% macro platform_layer(node) -%}
    {%- if node.resource_type == 'snapshot' -%}
        {{ return('marts') }}
    {%- elif node.resource_type == 'model' -%}
        {%- set layer = node.fqn[2] if node.fqn | length > 3 else none -%}
        {%- if layer not in ('staging', 'marts') -%}
            {{ exceptions.raise_compiler_error(
                "model " ~ node.name ~ " (" ~ node.original_file_path ~ "): put it under "
                ~ "models/<domain>/staging/ or models/<domain>/marts/"
            ) }}
        {%- endif -%}
        {{ return(layer) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
