-- The marts agree: the sum of customers' lifetime value equals the sum of daily net revenue.
{{ config(severity="warn") }}

with clv as (

    select coalesce(sum(lifetime_value_eur), 0) as total from {{ ref('customer_lifetime_value') }}

),

daily as (

    select coalesce(sum(net_revenue_eur), 0) as total from {{ ref('fct_daily_revenue') }}

)

select
    clv.total as lifetime_value_total,
    daily.total as net_revenue_total
from clv
cross join daily
where clv.total != daily.total
