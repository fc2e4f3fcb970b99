-- One row per order event. The Spark job already deduplicates within its lateness window; versions of
-- an event that landed in different day partitions are resolved here the same way: latest event_time
-- wins, then the later lifecycle status, then the later partition.
with source as (

    select * from {{ source('orders_staging', 'orders') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by
                event_time desc,
                case status
                    when 'refunded' then 4
                    when 'cancelled' then 3
                    when 'paid' then 2
                    else 1
                end desc,
                event_date desc
        ) as version_rank
    from source

),

renamed as (

    select
        cast(event_id as string) as event_id,
        cast(order_id as string) as order_id,
        cast(customer_id as string) as customer_id,
        cast(customer_email_hash as string) as customer_email_hash,
        cast(customer_name as string) as customer_name,
        cast(shipping_country as string) as shipping_country,
        cast(status as string) as status,
        cast(amount_cents as int64) as amount_cents,
        cast(currency as string) as currency,
        cast(amount_eur as numeric) as amount_eur,
        cast(event_time as timestamp) as event_time,
        cast(event_date as date) as event_date
    from ranked
    where version_rank = 1

)

select * from renamed
