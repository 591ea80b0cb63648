"""Run the offline feature pipeline: dbt build, feast apply, materialize into Redis."""
