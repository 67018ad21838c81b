-- LAN_REFERENCE_GROUP (var reference_group) must be a group of known ethnicity in dim_ethnic_category:
-- otherwise no gap_metrics row could be the reference. Returns the var when it is not.
with

categories as (

    select * from {{ ref('dim_ethnic_category') }}

),

known_reference as (

    select ethnic_group from categories
    where is_known and ethnic_group = '{{ var("reference_group") }}'

),

final as (

    select '{{ var("reference_group") }}' as reference_group
    where not exists (select 1 from known_reference)

)

select * from final
