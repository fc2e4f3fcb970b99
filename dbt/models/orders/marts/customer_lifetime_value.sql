-- Lifetime value per customer: payments minus refunds over all days, with the latest known contact data.
with orders as (

    select * from {{ ref('stg_orders') }}

),

latest_contact as (

    select
        customer_id,
        customer_email_hash,
        customer_name,
        shipping_country,
        row_number() over (
            partition by customer_id
            order by event_time desc, event_id desc
        ) as recency_rank
    from orders

),

totals as (

    select
        customer_id,
        min(event_date) as first_order_date,
        max(event_date) as last_order_date,
        count(distinct case when status = 'paid' then order_id end) as orders_paid,
        count(distinct case when status = 'refunded' then order_id end) as orders_refunded,
        sum(
            case
                when status = 'paid' then amount_eur
                when status = 'refunded' then -amount_eur
                else 0
            end
        ) as lifetime_value_eur
    from orders
    group by customer_id

),

final as (

    select
        cast(totals.customer_id as string) as customer_id,
        cast(latest_contact.customer_email_hash as string) as customer_email_hash,
        cast(latest_contact.customer_name as string) as customer_name,
        cast(latest_contact.shipping_country as string) as shipping_country,
        cast(totals.first_order_date as date) as first_order_date,
        cast(totals.last_order_date as date) as last_order_date,
        cast(totals.orders_paid as int64) as orders_paid,
        cast(totals.orders_refunded as int64) as orders_refunded,
        cast(totals.lifetime_value_eur as numeric) as lifetime_value_eur
    from totals
    inner join latest_contact
        on
            totals.customer_id = latest_contact.customer_id
            and latest_contact.recency_rank = 1

)

select * from final
