-- Fails on any day whose revenue over all segments is not the day's payments minus refunds of the
-- orders mart: every payment and refund lands in exactly one segment.
with by_segment as (

    select
        revenue_date,
        sum(net_revenue_eur) as net_revenue_eur
    from {{ ref('fct_revenue_by_segment') }}
    group by revenue_date

),

payments as (

    select
        cast(paid_at as date) as revenue_date,
        paid_eur as amount_eur
    from {{ ref('fct_orders') }}
    where paid_at is not null

    union all

    select
        cast(refunded_at as date) as revenue_date,
        -refunded_eur as amount_eur
    from {{ ref('fct_orders') }}
    where refunded_at is not null

),

by_day as (

    select
        revenue_date,
        sum(amount_eur) as net_revenue_eur
    from payments
    group by revenue_date

)

select
    by_segment.revenue_date,
    by_segment.net_revenue_eur as segments_total,
    by_day.net_revenue_eur as orders_total
from by_segment
inner join by_day on by_segment.revenue_date = by_day.revenue_date
where by_segment.net_revenue_eur != by_day.net_revenue_eur
