-- Revenue per UTC day and the segment the customer had when they paid. A payment counts on its day, a
-- refund on its own day but in the segment of the payment it refunds; a customer without a profile
-- at that time is `unknown`. Incremental like fct_daily_revenue: a run rebuilds the days
-- [run_date - lookback_days, run_date].
{{
    config(
        materialized='incremental',
        incremental_strategy=day_incremental_strategy(),
        unique_key='revenue_date',
        partition_by=day_partition_by('revenue_date'),
        on_schema_change='fail'
    )
}}

with orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

movements as (

    select
        order_id,
        customer_id,
        paid_at as segment_at,
        cast(paid_at as date) as revenue_date,
        paid_eur as amount_eur,
        true as is_payment
    from orders
    where paid_at is not null

    union all

    select
        order_id,
        customer_id,
        coalesce(paid_at, refunded_at) as segment_at,
        cast(refunded_at as date) as revenue_date,
        -refunded_eur as amount_eur,
        false as is_payment
    from orders
    where refunded_at is not null

),

windowed as (

    select * from movements
    {% if is_incremental() %}
        where revenue_date between {{ run_window_start() }} and {{ run_date() }}
    {% endif %}

),

segmented as (

    select
        windowed.revenue_date,
        windowed.order_id,
        windowed.customer_id,
        windowed.amount_eur,
        windowed.is_payment,
        coalesce(customers.segment, 'unknown') as segment
    from windowed
    left join customers
        on
            windowed.customer_id = customers.customer_id
            and windowed.segment_at >= customers.valid_from
            and (customers.valid_to is null or windowed.segment_at < customers.valid_to)

),

daily as (

    select
        revenue_date,
        segment,
        count(distinct case when is_payment then order_id end) as orders_paid,
        count(distinct case when is_payment then customer_id end) as paying_customers,
        sum(amount_eur) as net_revenue_eur
    from segmented
    group by revenue_date, segment

),

final as (

    select
        cast(revenue_date as date) as revenue_date,
        cast(segment as string) as segment,
        cast(orders_paid as int64) as orders_paid,
        cast(paying_customers as int64) as paying_customers,
        cast(net_revenue_eur as numeric) as net_revenue_eur
    from daily

)

select * from final
