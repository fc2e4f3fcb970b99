-- Fails on any day whose net revenue is not payments minus refunds.
select
    revenue_date,
    gross_revenue_eur,
    refunds_eur,
    net_revenue_eur
from {{ ref('fct_daily_revenue') }}
where net_revenue_eur != gross_revenue_eur - refunds_eur
