-- Revenue per UTC day. Incremental: a run rebuilds the days [run_date - lookback_days, run_date] only,
-- so re-running a logical date (or backfilling one) rewrites exactly its window.
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

    select * from {{ ref('stg_orders') }}
    {% if is_incremental() %}
        where event_date between {{ run_window_start() }} and {{ run_date() }}
    {% endif %}

),

daily as (

    select
        event_date as revenue_date,
        count(distinct case when status = 'paid' then order_id end) as orders_paid,
        count(distinct case when status = 'refunded' then order_id end) as orders_refunded,
        count(distinct case when status = 'paid' then customer_id end) as paying_customers,
        sum(case when status = 'paid' then amount_eur else 0 end) as gross_revenue_eur,
        sum(case when status = 'refunded' then amount_eur else 0 end) as refunds_eur
    from orders
    group by event_date

),

final as (

    select
        cast(revenue_date as date) as revenue_date,
        cast(orders_paid as int64) as orders_paid,
        cast(orders_refunded as int64) as orders_refunded,
        cast(paying_customers as int64) as paying_customers,
        cast(gross_revenue_eur as numeric) as gross_revenue_eur,
        cast(refunds_eur as numeric) as refunds_eur,
        cast(gross_revenue_eur - refunds_eur as numeric) as net_revenue_eur
    from daily

)

select * from final
