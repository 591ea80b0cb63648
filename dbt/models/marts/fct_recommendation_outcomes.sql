{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#-
  What happened to each shown item: clicked (any event on it), carted, bought, after it was
  shown. An event is attributed to an answer
    - by request_id, when the event carries one (POST /events `request_id`) and the item was in
      that answer, at or after served_at;
    - otherwise to the user's last answer at or before the event, within
      outcome_window_minutes (a dbt var) and in the same session (an answer or event without a
      session_id matches the user's events or answers of any session), if the item was in it.
  Event times are when the server received them (received_at; the client's event_timestamp
  when absent). Events are the API's served events (landing/served), read fresh from staging so that
  `recsys monitor` needs no full rebuild; rows a build would quarantine (missing ids, unknown
  type, unparseable time) are left out, and a repeated event_id counts once.
-#}
{%- set window_us = (var('outcome_window_minutes') * 60 * 1000000) | int -%}

with fct_impressions as (

    select * from {{ ref('fct_impressions') }}

),

fct_recommendation_requests as (

    select request_id, served_at, user_id, session_id
    from {{ ref('fct_recommendation_requests') }}

),

stg_landing__served_events as (

    select * from {{ ref('stg_landing__served_events') }}

),

served_events as (

    select
        trim(event_id) as event_id,
        trim(user_id) as user_id,
        nullif(trim(session_id), '') as session_id,
        trim(item_id) as item_id,
        coalesce(nullif(trim(event_type), ''), 'view') as event_type,
        -- When the server received it (its own clock, as served_at is), else the client's time:
        -- a replay or an offline client may send events with old timestamps.
        coalesce(received_at, event_timestamp) as event_timestamp,
        nullif(trim(request_id), '') as request_id
    from stg_landing__served_events
    where nullif(trim(user_id), '') is not null
        and nullif(trim(item_id), '') is not null
        and event_timestamp is not null
        and coalesce(nullif(trim(event_type), ''), 'view') in ('view', 'add_to_cart', 'purchase')
    qualify row_number() over (
        partition by coalesce(nullif(trim(event_id), ''), landing_file || ':' || landing_row)
        order by landing_file, landing_row
    ) = 1

),

by_request_id as (

    select
        served_events.*,
        served_events.request_id as attributed_request_id,
        'request_id' as attribution
    from served_events
    join fct_recommendation_requests
        on served_events.request_id = fct_recommendation_requests.request_id
        and served_events.event_timestamp >= fct_recommendation_requests.served_at

),

last_answer as (

    -- The user's last answer at or before each event without a request_id.
    select
        served_events.*,
        fct_recommendation_requests.request_id as attributed_request_id,
        'session_window' as attribution
    from served_events
    join fct_recommendation_requests
        on served_events.user_id = fct_recommendation_requests.user_id
        and fct_recommendation_requests.served_at <= served_events.event_timestamp
        and {{ ts_epoch_us('served_events.event_timestamp') }}
            - {{ ts_epoch_us('fct_recommendation_requests.served_at') }} <= {{ window_us }}
        and (
            served_events.session_id is null
            or fct_recommendation_requests.session_id is null
            or served_events.session_id = fct_recommendation_requests.session_id
        )
    where served_events.request_id is null
    qualify row_number() over (
        partition by served_events.event_id, served_events.event_timestamp, served_events.item_id
        order by fct_recommendation_requests.served_at desc, fct_recommendation_requests.request_id desc
    ) = 1

),

attributed as (

    select * from by_request_id
    union all
    select * from last_answer

),

outcomes as (

    -- Only events on an item the answer showed are outcomes of it.
    select
        fct_impressions.request_id,
        fct_impressions.item_id,
        count(*) as event_count,
        min(attributed.event_timestamp) as first_event_at,
        bool_or(attributed.event_type = 'add_to_cart') as is_carted,
        bool_or(attributed.event_type = 'purchase') as is_bought,
        case when bool_or(attributed.attribution = 'request_id') then 'request_id'
            else 'session_window' end as attribution
    from attributed
    join fct_impressions
        on attributed.attributed_request_id = fct_impressions.request_id
        and attributed.item_id = fct_impressions.item_id
    group by all

),

final as (

    select
        fct_impressions.request_id,
        fct_impressions.item_id,
        fct_impressions.rank,
        fct_impressions.score,
        fct_impressions.served_at,
        fct_impressions.user_id,
        fct_impressions.session_id,
        fct_impressions.model_version,
        fct_impressions.is_degraded,
        outcomes.request_id is not null as is_clicked,
        coalesce(outcomes.is_carted, false) as is_carted,
        coalesce(outcomes.is_bought, false) as is_bought,
        coalesce(outcomes.event_count, 0) as event_count,
        outcomes.first_event_at as clicked_at,
        ({{ ts_epoch_us('outcomes.first_event_at') }} - {{ ts_epoch_us('fct_impressions.served_at') }}) / 1e6
            as seconds_to_click,
        outcomes.attribution
    from fct_impressions
    left join outcomes
        on fct_impressions.request_id = outcomes.request_id
        and fct_impressions.item_id = outcomes.item_id

)

select * from final
