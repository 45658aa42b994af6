-- Fails (or warns, with severity: warn) when the model has any row: for marts that list
-- problems, such as mart_payment_differences.
{% test no_rows(model) %}
select * from {{ model }}
{% endtest %}
