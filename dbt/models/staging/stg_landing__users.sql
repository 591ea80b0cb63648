{#- One row per row of landing/users.parquet; an empty relation when the file is absent. -#}
{%- set location = source('landing', 'users') -%}
{%- set has_file = landing_file_count(location) > 0 -%}
{%- set reader = landing_table_reader(location) if has_file else '' -%}
{%- set columns = landing_columns(reader) if has_file else {} -%}

with source as (

    {%- if has_file %}
    select * from {{ reader }}
    {%- else %}
    -- No user file: events alone define the users (dim_users.attributes is NULL).
    select cast(null as {{ sql_type('varchar') }}) as filename where false
    {%- endif %}

),

renamed as (

    select
        {{ landing_column(columns, 'user_id', 'varchar', location) }} as user_id,
        {{ landing_column(columns, 'attributes', 'varchar', location) }} as attributes,
        coalesce(
            {{ landing_column(columns, 'source_file', 'varchar', location) }},
            {{ landing_file_name('filename') }}
        ) as source_file,
        {{ landing_column(columns, 'source_row', 'bigint', location) }} as source_row
    from source

)

select * from renamed
