-- Fails on a customer with no current version or more than one, or a version that ends before it starts.
with versions as (

    select * from {{ ref('dim_customers') }}

),

per_customer as (

    select
        customer_id,
        sum(case when is_current then 1 else 0 end) as current_versions
    from versions
    group by customer_id

)

select
    customer_id,
    'current versions: ' || cast(current_versions as string) as problem
from per_customer
where current_versions != 1

union all

select
    customer_id,
    'valid_to is not after valid_from' as problem
from versions
where valid_to is not null and valid_to <= valid_from
