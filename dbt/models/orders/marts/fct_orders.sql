-- One row per order: its latest status and amount, when it was paid and refunded. The order grain the
-- cross-domain marts join on (e.g. the customer's segment at payment time).
with orders as (

    select * from {{ ref('stg_orders') }}

),

latest as (

    select
        order_id,
        customer_id,
        status,
        amount_eur,
        row_number() over (
            partition by order_id
            order by event_time desc, event_id desc
        ) as recency_rank
    from orders

),

lifecycle as (

    select
        order_id,
        min(event_time) as first_event_at,
        min(case when status = 'paid' then event_time end) as paid_at,
        sum(case when status = 'paid' then amount_eur else 0 end) as paid_eur,
        max(case when status = 'refunded' then event_time end) as refunded_at,
        sum(case when status = 'refunded' then amount_eur else 0 end) as refunded_eur
    from orders
    group by order_id

),

final as (

    select
        cast(lifecycle.order_id as string) as order_id,
        cast(latest.customer_id as string) as customer_id,
        cast(latest.status as string) as status,
        cast(latest.amount_eur as numeric) as amount_eur,
        cast(lifecycle.first_event_at as timestamp) as first_event_at,
        cast(lifecycle.paid_at as timestamp) as paid_at,
        cast(lifecycle.paid_eur as numeric) as paid_eur,
        cast(lifecycle.refunded_at as timestamp) as refunded_at,
        cast(lifecycle.refunded_eur as numeric) as refunded_eur
    from lifecycle
    inner join latest
        on
            lifecycle.order_id = latest.order_id
            and latest.recency_rank = 1

)

select * from final
