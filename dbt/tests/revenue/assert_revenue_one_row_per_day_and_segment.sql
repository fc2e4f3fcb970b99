-- Fails on any (day, segment) given twice.
select
    revenue_date,
    segment,
    count(*) as copies
from {{ ref('fct_revenue_by_segment') }}
group by revenue_date, segment
having count(*) > 1
