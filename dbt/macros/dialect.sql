{#-
  SQL that DuckDB and Spark spell differently, behind adapter.dispatch: each macro's duckdb__
  version is the SQL the models always had (a DuckDB build compiles to the same statements),
  its spark__ version the Spark SQL equivalent. Spark's session time zone is UTC (profile), as
  DuckDB's TimeZone setting is, so timestamps without a zone mean UTC on both.
-#}

{% macro sql_type(name) -%}
  {{ return(adapter.dispatch('sql_type', 'recsys')(name)) }}
{%- endmacro %}

{% macro default__sql_type(name) -%}{{ name }}{%- endmacro %}

{% macro spark__sql_type(name) -%}
  {%- set types = {
      'varchar': 'string', 'timestamptz': 'timestamp', 'integer': 'int',
      'varchar[]': 'array<string>', 'double[]': 'array<double>', 'bigint[]': 'array<bigint>',
      'utinyint': 'tinyint',
  } -%}
  {{ types.get(name | lower, name) }}
{%- endmacro %}


{% macro double_literal(text) -%}
  {#- A literal like 7.0 as a double: Spark reads it as a DECIMAL and divides exactly. -#}
  {{ return(adapter.dispatch('double_literal', 'recsys')(text)) }}
{%- endmacro %}

{% macro default__double_literal(text) -%}{{ text }}{%- endmacro %}

{% macro spark__double_literal(text) -%}cast({{ text }} as double){%- endmacro %}


{% macro ts_epoch_us(ts) -%}
  {{ return(adapter.dispatch('ts_epoch_us', 'recsys')(ts)) }}
{%- endmacro %}

{% macro default__ts_epoch_us(ts) -%}epoch_us({{ ts }}){%- endmacro %}

{% macro spark__ts_epoch_us(ts) -%}unix_micros({{ ts }}){%- endmacro %}


{% macro ts_epoch_ms(ts) -%}
  {{ return(adapter.dispatch('ts_epoch_ms', 'recsys')(ts)) }}
{%- endmacro %}

{% macro default__ts_epoch_ms(ts) -%}epoch_ms({{ ts }}){%- endmacro %}

{% macro spark__ts_epoch_ms(ts) -%}unix_millis({{ ts }}){%- endmacro %}


{% macro days_interval(days) -%}
  {{ return(adapter.dispatch('days_interval', 'recsys')(days)) }}
{%- endmacro %}

{% macro default__days_interval(days) -%}to_days({{ days }}){%- endmacro %}

{% macro spark__days_interval(days) -%}make_dt_interval({{ days }}){%- endmacro %}


{% macro minutes_interval(minutes) -%}
  {{ return(adapter.dispatch('minutes_interval', 'recsys')(minutes)) }}
{%- endmacro %}

{% macro default__minutes_interval(minutes) -%}
  to_minutes(cast({{ minutes }} as bigint))
{%- endmacro %}

{% macro spark__minutes_interval(minutes) -%}
  make_dt_interval(0, 0, cast({{ minutes }} as bigint), 0)
{%- endmacro %}


{% macro int_div(numerator, denominator) -%}
  {#- Integer division of non-negative integers. -#}
  {{ return(adapter.dispatch('int_div', 'recsys')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__int_div(numerator, denominator) -%}{{ numerator }} // {{ denominator }}{%- endmacro %}

{% macro spark__int_div(numerator, denominator) -%}({{ numerator }} div {{ denominator }}){%- endmacro %}


{% macro arg_min(value, key) -%}
  {{ return(adapter.dispatch('arg_min', 'recsys')(value, key)) }}
{%- endmacro %}

{% macro default__arg_min(value, key) -%}arg_min({{ value }}, {{ key }}){%- endmacro %}

{% macro spark__arg_min(value, key) -%}min_by({{ value }}, {{ key }}){%- endmacro %}


{% macro regex_matches(value, pattern) -%}
  {#- `pattern` is an RE2 / Java regular expression (the id rule's character class). -#}
  {{ return(adapter.dispatch('regex_matches', 'recsys')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(value, pattern) -%}
  regexp_matches({{ value }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_matches(value, pattern) -%}
  {#- Spark unescapes backslashes in string literals: double them to keep the pattern. -#}
  ({{ value }} rlike '{{ pattern | replace('\\', '\\\\') }}')
{%- endmacro %}


{% macro iso_utc_text(ts) -%}
  {#- A timestamp as ISO-8601 text in UTC with microseconds and a Z. -#}
  {{ return(adapter.dispatch('iso_utc_text', 'recsys')(ts)) }}
{%- endmacro %}

{% macro default__iso_utc_text(ts) -%}
  strftime({{ ts }} at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
{%- endmacro %}

{% macro spark__iso_utc_text(ts) -%}
  date_format({{ ts }}, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
{%- endmacro %}


{% macro union_all_by_name() -%}
  {#- Spark SQL has no BY NAME: its callers list the same columns in the same order. -#}
  {{ return(adapter.dispatch('union_all_by_name', 'recsys')()) }}
{%- endmacro %}

{% macro default__union_all_by_name() -%}union all by name{%- endmacro %}

{% macro spark__union_all_by_name() -%}union all{%- endmacro %}


{% macro star_except(columns) -%}
  {#- `*` without `columns`. -#}
  {{ return(adapter.dispatch('star_except', 'recsys')(columns)) }}
{%- endmacro %}

{% macro default__star_except(columns) -%}* exclude ({{ columns | join(', ') }}){%- endmacro %}

{% macro spark__star_except(columns) -%}* except ({{ columns | join(', ') }}){%- endmacro %}


{% macro cte_materialized() -%}
  {#- DuckDB's hint to compute a CTE once; Spark has no such keyword. -#}
  {{ return(adapter.dispatch('cte_materialized', 'recsys')()) }}
{%- endmacro %}

{% macro default__cte_materialized() -%}materialized{%- endmacro %}

{% macro spark__cte_materialized() -%}{%- endmacro %}


{#- Lists (DuckDB LIST, Spark ARRAY). -#}

{% macro agg_list(expression) -%}
  {{ return(adapter.dispatch('agg_list', 'recsys')(expression)) }}
{%- endmacro %}

{% macro default__agg_list(expression) -%}list({{ expression }}){%- endmacro %}

{% macro spark__agg_list(expression) -%}collect_list({{ expression }}){%- endmacro %}


{% macro struct_of(fields) -%}
  {#- `fields`: a list of [name, expression] pairs; the struct keeps their order. -#}
  {{ return(adapter.dispatch('struct_of', 'recsys')(fields)) }}
{%- endmacro %}

{% macro default__struct_of(fields) -%}
  { {%- for name, expression in fields -%}
    '{{ name }}': {{ expression }}{{ ', ' if not loop.last }}
  {%- endfor -%} }
{%- endmacro %}

{% macro spark__struct_of(fields) -%}
  named_struct( {%- for name, expression in fields -%}
    '{{ name }}', {{ expression }}{{ ', ' if not loop.last }}
  {%- endfor -%} )
{%- endmacro %}


{% macro list_sorted(items) -%}
  {{ return(adapter.dispatch('list_sorted', 'recsys')(items)) }}
{%- endmacro %}

{% macro default__list_sorted(items) -%}list_sort({{ items }}){%- endmacro %}

{% macro spark__list_sorted(items) -%}array_sort({{ items }}){%- endmacro %}


{% macro list_head(items, count) -%}
  {#- The first `count` elements. -#}
  {{ return(adapter.dispatch('list_head', 'recsys')(items, count)) }}
{%- endmacro %}

{% macro default__list_head(items, count) -%}{{ items }}[1:{{ count }}]{%- endmacro %}

{% macro spark__list_head(items, count) -%}slice({{ items }}, 1, {{ count }}){%- endmacro %}


{% macro list_tail(items, count) -%}
  {#- The last `count` elements (all when there are fewer). -#}
  {{ return(adapter.dispatch('list_tail', 'recsys')(items, count)) }}
{%- endmacro %}

{% macro default__list_tail(items, count) -%}{{ items }}[-{{ count }}:]{%- endmacro %}

{% macro spark__list_tail(items, count) -%}
  slice({{ items }}, greatest(size({{ items }}) - {{ count }} + 1, 1), {{ count }})
{%- endmacro %}


{% macro list_map(items, name, expression) -%}
  {#- `expression` applied to each element, bound to `name`. -#}
  {{ return(adapter.dispatch('list_map', 'recsys')(items, name, expression)) }}
{%- endmacro %}

{% macro default__list_map(items, name, expression) -%}
  list_transform({{ items }}, lambda {{ name }}: {{ expression }})
{%- endmacro %}

{% macro spark__list_map(items, name, expression) -%}
  transform({{ items }}, {{ name }} -> {{ expression }})
{%- endmacro %}


{% macro list_keep(items, name, condition) -%}
  {{ return(adapter.dispatch('list_keep', 'recsys')(items, name, condition)) }}
{%- endmacro %}

{% macro default__list_keep(items, name, condition) -%}
  list_filter({{ items }}, lambda {{ name }}: {{ condition }})
{%- endmacro %}

{% macro spark__list_keep(items, name, condition) -%}
  filter({{ items }}, {{ name }} -> {{ condition }})
{%- endmacro %}


{% macro list_has(items, value) -%}
  {{ return(adapter.dispatch('list_has', 'recsys')(items, value)) }}
{%- endmacro %}

{% macro default__list_has(items, value) -%}list_contains({{ items }}, {{ value }}){%- endmacro %}

{% macro spark__list_has(items, value) -%}array_contains({{ items }}, {{ value }}){%- endmacro %}


{% macro list_join(first, second) -%}
  {{ return(adapter.dispatch('list_join', 'recsys')(first, second)) }}
{%- endmacro %}

{% macro default__list_join(first, second) -%}list_concat({{ first }}, {{ second }}){%- endmacro %}

{% macro spark__list_join(first, second) -%}concat({{ first }}, {{ second }}){%- endmacro %}


{% macro list_length(items) -%}
  {{ return(adapter.dispatch('list_length', 'recsys')(items)) }}
{%- endmacro %}

{% macro default__list_length(items) -%}len({{ items }}){%- endmacro %}

{% macro spark__list_length(items) -%}size({{ items }}){%- endmacro %}


{% macro list_literal(values) -%}
  {#- A list of SQL expressions. -#}
  {{ return(adapter.dispatch('list_literal', 'recsys')(values)) }}
{%- endmacro %}

{% macro default__list_literal(values) -%}[{{ values | join(', ') }}]{%- endmacro %}

{% macro spark__list_literal(values) -%}array({{ values | join(', ') }}){%- endmacro %}


{% macro empty_list(element_type) -%}
  {{ return(adapter.dispatch('empty_list', 'recsys')(element_type)) }}
{%- endmacro %}

{% macro default__empty_list(element_type) -%}cast([] as {{ element_type }}[]){%- endmacro %}

{% macro spark__empty_list(element_type) -%}
  cast(array() as array<{{ sql_type(element_type) }}>)
{%- endmacro %}


{#- JSON text (the served-event and impression log lines). -#}

{% macro json_is_valid(document) -%}
  {{ return(adapter.dispatch('json_is_valid', 'recsys')(document)) }}
{%- endmacro %}

{% macro default__json_is_valid(document) -%}json_valid({{ document }}){%- endmacro %}

{% macro spark__json_is_valid(document) -%}
  (try_parse_json({{ document }}) is not null)
{%- endmacro %}


{% macro json_text(document, path) -%}
  {#- The value at `path` as text (a string without its quotes). -#}
  {{ return(adapter.dispatch('json_text', 'recsys')(document, path)) }}
{%- endmacro %}

{% macro default__json_text(document, path) -%}
  json_extract_string({{ document }}, '{{ path }}')
{%- endmacro %}

{% macro spark__json_text(document, path) -%}
  get_json_object({{ document }}, '{{ path }}')
{%- endmacro %}


{% macro list_at(items, index) -%}
  {#- The element at 1-based `index`. -#}
  {{ return(adapter.dispatch('list_at', 'recsys')(items, index)) }}
{%- endmacro %}

{% macro default__list_at(items, index) -%}{{ items }}[{{ index }}]{%- endmacro %}

{% macro spark__list_at(items, index) -%}element_at({{ items }}, {{ index }}){%- endmacro %}


{% macro quantiles_disc(ts, fractions) -%}
  {#- The discrete quantiles `fractions` of timestamp `ts`, as a list of timestamps. -#}
  {{ return(adapter.dispatch('quantiles_disc', 'recsys')(ts, fractions)) }}
{%- endmacro %}

{% macro default__quantiles_disc(ts, fractions) -%}
  quantile_disc(
            {{ ts }},
            [{{ fractions | join(', ') }}]
        )
{%- endmacro %}

{% macro spark__quantiles_disc(ts, fractions) -%}
  {#- DuckDB's quantile_disc(q) is the value at 1-based position ceil(q * n) of the sorted
      values (the SQL standard's); the same position of Spark's sorted list. -#}
  array(
      {%- for fraction in fractions %}
      element_at(
          array_sort(collect_list({{ ts }})),
          greatest(cast(ceil({{ fraction }} * count({{ ts }})) as int), 1)
      ){{ ',' if not loop.last }}
      {%- endfor %}
  )
{%- endmacro %}


{% macro unnest_list(values) -%}
  {#- One row per element of a list of SQL expressions (in a select list). -#}
  {{ return(adapter.dispatch('unnest_list', 'recsys')(values)) }}
{%- endmacro %}

{% macro default__unnest_list(values) -%}unnest([{{ values | join(', ') }}]){%- endmacro %}

{% macro spark__unnest_list(values) -%}explode(array({{ values | join(', ') }})){%- endmacro %}


{% macro recent_items_next_days(recursive, day_lists, alias) -%}
  {#-
    The recursive step's join in user_features.recent_items: each user's next active day.
    DuckDB: every row of the working table has the same day_index (all start at 1), so a
    constant filter on day_lists probes only the rows it needs. Spark's recursive CTEs allow
    no subquery on the recursive reference: it joins on the next day_index instead.
  -#}
  {{ return(adapter.dispatch('recent_items_next_days', 'recsys')(recursive, day_lists, alias)) }}
{%- endmacro %}

{% macro default__recent_items_next_days(recursive, day_lists, alias) -%}
    inner join (
        -- Every row of the working table has the same day_index (all start at 1).
        select * from {{ day_lists }}
        where day_index = (select max(day_index) from {{ recursive }}) + 1
    ) as {{ alias }}
        on {{ alias }}.user_id = {{ recursive }}.user_id
{%- endmacro %}

{% macro spark__recent_items_next_days(recursive, day_lists, alias) -%}
    inner join {{ day_lists }} as {{ alias }}
        on {{ alias }}.user_id = {{ recursive }}.user_id
        and {{ alias }}.day_index = {{ recursive }}.day_index + 1
{%- endmacro %}


{% macro ordered_list(value, keys) -%}
  {#- list(value order by keys): `keys` is a list of [expression, 'asc' or 'desc']. -#}
  {{ return(adapter.dispatch('ordered_list', 'recsys')(value, keys)) }}
{%- endmacro %}

{% macro default__ordered_list(value, keys) -%}
  list({{ value }} order by
  {%- for expression, direction in keys %} {{ expression }}{{ ' desc' if direction == 'desc' }}
  {{- ',' if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro spark__ordered_list(value, keys) -%}
  {#- Spark has no ordered aggregates: sort the collected structs with a comparator. -#}
  transform(
      array_sort(
          collect_list(named_struct(
              {%- for expression, direction in keys %}'k{{ loop.index0 }}', {{ expression }}, {% endfor -%}
              'v', {{ value }}
          )),
          (l, r) -> case
              {%- for expression, direction in keys %}
              {%- set before, after = ('-1', '1') if direction != 'desc' else ('1', '-1') %}
              when l.k{{ loop.index0 }} < r.k{{ loop.index0 }} then {{ before }}
              when l.k{{ loop.index0 }} > r.k{{ loop.index0 }} then {{ after }}
              {%- endfor %}
              else 0
          end
      ),
      x -> x.v
  )
{%- endmacro %}


{% macro non_null_list() -%}
  {#- {% call non_null_list() %} a, b, ... {% endcall %}: the list of the non-NULL values. -#}
  {{ return(adapter.dispatch('non_null_list', 'recsys')(caller())) }}
{%- endmacro %}

{% macro default__non_null_list(values) -%}
  list_filter([{{ values }}], lambda name: name is not null)
{%- endmacro %}

{% macro spark__non_null_list(values) -%}
  filter(array({{ values }}), name -> name is not null)
{%- endmacro %}


{% macro list_to_text(items, separator) -%}
  {{ return(adapter.dispatch('list_to_text', 'recsys')(items, separator)) }}
{%- endmacro %}

{% macro default__list_to_text(items, separator) -%}
  array_to_string({{ items }}, '{{ separator }}')
{%- endmacro %}

{% macro spark__list_to_text(items, separator) -%}
  array_join({{ items }}, '{{ separator }}')
{%- endmacro %}


{% macro list_max_abs_difference(first, second) -%}
  {#- The largest |first[i] - second[i]| over the positions of `first`. -#}
  {{ return(adapter.dispatch('list_max_abs_difference', 'recsys')(first, second)) }}
{%- endmacro %}

{% macro default__list_max_abs_difference(first, second) -%}
  list_max(list_transform(
                    range(1, len({{ first }}) + 1),
                    lambda i: abs(
                        {{ first }}[i] - {{ second }}[i]
                    )
                ))
{%- endmacro %}

{% macro spark__list_max_abs_difference(first, second) -%}
  array_max(transform(
      sequence(1, size({{ first }})),
      i -> abs(element_at({{ first }}, i) - element_at({{ second }}, i))
  ))
{%- endmacro %}
