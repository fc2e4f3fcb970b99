-- The latest profile of each customer. The Spark job keeps the latest change per customer and day;
-- across days the latest updated_at wins, then the later event id. The snapshot of this view keeps the
-- history (snapshots/customers/).
with source as (

    select * from {{ source('customers_staging', 'customers') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, event_id desc
        ) as version_rank
    from source

),

renamed as (

    select
        cast(event_id as string) as event_id,
        cast(customer_id as string) as customer_id,
        cast(email_hash as string) as email_hash,
        cast(full_name as string) as full_name,
        cast(street_address as string) as street_address,
        cast(postal_code as string) as postal_code,
        cast(country as string) as country,
        cast(segment as string) as segment,
        cast(marketing_opt_in as bool) as marketing_opt_in,
        cast(updated_at as timestamp) as updated_at,
        cast(event_date as date) as event_date
    from ranked
    where version_rank = 1

)

select * from renamed
