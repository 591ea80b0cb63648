{#- One row per row of landing/items.parquet; an empty relation when the file is absent. -#}
{%- set location = source('landing', 'items') -%}
{%- set has_file = landing_file_count(location) > 0 -%}
{%- set reader = landing_table_reader(location) if has_file else '' -%}
{%- set columns = landing_columns(reader) if has_file else {} -%}

with source as (

    {%- if has_file %}
    select * from {{ reader }}
    {%- else %}
    -- No item file: events alone define the items (dim_items.has_metadata = false).
    select cast(null as {{ sql_type('varchar') }}) as filename where false
    {%- endif %}

),

renamed as (

    select
        {{ landing_column(columns, 'item_id', 'varchar', location) }} as item_id,
        {{ landing_column(columns, 'category', 'varchar', location) }} as category,
        {{ landing_column(columns, 'price', 'double', location) }} as price,
        {{ landing_column(columns, 'title', 'varchar', location) }} as title,
        {{ landing_column(columns, 'attributes', 'varchar', location) }} as attributes,
        coalesce(
            {{ landing_column(columns, 'source_file', 'varchar', location) }},
            {{ landing_file_name('filename') }}
        ) as source_file,
        {{ landing_column(columns, 'source_row', 'bigint', location) }} as source_row
    from source

)

select * from renamed
