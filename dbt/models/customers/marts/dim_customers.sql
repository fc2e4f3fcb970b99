-- Customer profiles as history (SCD type 2): one row per customer and version, from the snapshot. A
-- version is valid from the change that made it until the next one (valid_to is null while current).
with versions as (

    select * from {{ ref('customers_snapshot') }}

),

final as (

    select
        cast(dbt_scd_id as string) as customer_version_id,
        cast(customer_id as string) as customer_id,
        cast(email_hash as string) as email_hash,
        cast(full_name as string) as full_name,
        cast(country as string) as country,
        cast(segment as string) as segment,
        cast(dbt_valid_from as timestamp) as valid_from,
        cast(dbt_valid_to as timestamp) as valid_to,
        cast(dbt_valid_to is null as bool) as is_current
    from versions

)

select * from final
