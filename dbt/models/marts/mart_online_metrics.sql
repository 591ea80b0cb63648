{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#-
  Daily (UTC) online metrics per model version. Per answer: CTR@k = share of answers with at
  least one shown item clicked; conversion = share with a shown item bought; MRR = mean over
  answers of 1 / rank of the first clicked item (0 without a click). Coverage = distinct shown
  items / items in dim_items. Latency percentiles are of the summed logged stage timings.
-#}

with fct_recommendation_requests as (

    select * from {{ ref('fct_recommendation_requests') }}

),

fct_recommendation_outcomes as (

    select * from {{ ref('fct_recommendation_outcomes') }}

),

dim_items as (

    select count(*) as catalogue_items from {{ ref('dim_items') }}

),

per_request as (

    select
        request_id,
        count(*) as shown_items,
        count(*) filter (where is_clicked) as clicked_items,
        min(rank) filter (where is_clicked) as first_clicked_rank,
        bool_or(is_carted) as has_cart,
        bool_or(is_bought) as has_purchase,
        list(distinct item_id) as shown_item_ids
    from fct_recommendation_outcomes
    group by request_id

),

joined as (

    select
        cast(fct_recommendation_requests.served_at at time zone 'UTC' as date) as day,
        coalesce(fct_recommendation_requests.model_version, '(none)') as model_version,
        fct_recommendation_requests.*  exclude (model_version),
        coalesce(per_request.shown_items, 0) as shown_items,
        coalesce(per_request.clicked_items, 0) as clicked_items,
        per_request.first_clicked_rank,
        coalesce(per_request.has_cart, false) as has_cart,
        coalesce(per_request.has_purchase, false) as has_purchase,
        per_request.shown_item_ids
    from fct_recommendation_requests
    left join per_request using (request_id)

),

daily as (

    select
        day,
        model_version,
        count(*) as answers,
        sum(shown_items) as impressions,
        count(*) filter (where clicked_items > 0) as answers_clicked,
        sum(clicked_items) as clicked_items,
        count(*) filter (where clicked_items > 0) / count(*) as ctr_at_k,
        sum(clicked_items) / nullif(sum(shown_items), 0) as item_ctr,
        count(*) filter (where has_cart) / count(*) as cart_rate,
        count(*) filter (where has_purchase) / count(*) as conversion,
        avg(coalesce(1.0 / first_clicked_rank, 0)) as mrr,
        avg(first_clicked_rank) as mean_first_clicked_rank,
        count(*) filter (where is_degraded) / count(*) as degraded_share,
        count(*) filter (where is_cold_start_user) / count(*) as cold_start_share,
        len(list_distinct(flatten(list(shown_item_ids)))) as distinct_items_shown,
        quantile_cont(latency_ms, 0.5) as latency_p50_ms,
        quantile_cont(latency_ms, 0.95) as latency_p95_ms,
        quantile_cont(latency_ms, 0.99) as latency_p99_ms
    from joined
    group by day, model_version

),

final as (

    select
        daily.*,
        daily.distinct_items_shown / nullif(dim_items.catalogue_items, 0) as catalogue_coverage
    from daily
    cross join dim_items

)

select * from final
