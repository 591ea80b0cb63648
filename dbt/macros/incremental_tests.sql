{#-
  Tests on incremental builds: a generic test of a model with config incremental_day (the SQL
  of a row's UTC day number) checks only the rows from incremental_since_day on, the rows that
  build wrote; the stored days were tested when they were built. var incremental_tests: all
  tests every row, as a full build does. Singular tests are not scoped, except the list marts'
  point-in-time guard with a refresh grid, which reads the lists cut off from that day on
  (macros/neighbors.sql: lists_seen_before_snapshot).
-#}

{% macro duckdb__get_where_subquery(relation) -%}
  {%- set conditions = [] -%}
  {%- if config.get('where', '') -%}
    {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
  {%- endif -%}
  {%- set scope = incremental_test_scope(relation) -%}
  {%- if scope -%}
    {%- do conditions.append(scope) -%}
  {%- endif -%}
  {%- if conditions -%}
    {%- set filtered -%}
      (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
    {%- endset -%}
    {% do return(filtered) %}
  {%- else -%}
    {% do return(relation) %}
  {%- endif -%}
{%- endmacro %}


{% macro incremental_test_scope(relation) -%}
  {#- "<day expression> >= <since>" for a model with incremental_day on an incremental build. -#}
  {%- if not execute or build_mode() != 'incremental'
      or var('incremental_tests', 'new') == 'all'
      or since_day_setting() is none -%}
    {{ return('') }}
  {%- endif -%}
  {%- for node in graph.nodes.values() -%}
    {%- if node.resource_type == 'model' and node.name == relation.identifier
        and node.config.get('incremental_day') -%}
      {{ return(node.config.get('incremental_day') ~ ' >= ' ~ since_day_setting()) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{%- endmacro %}
