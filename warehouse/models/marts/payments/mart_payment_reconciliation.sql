-- Per UTC day (of the payment) and processor: captured, refunded and charged back as the
-- ledger says and as the processor's webhooks say, and how many payments disagree (listed
-- in mart_payment_differences).
select
    payment_date,
    gateway,
    currency,
    count(*) as payments,
    sum(ledger_captured_minor) as ledger_captured_minor,
    sum(gateway_captured_minor) as gateway_captured_minor,
    sum(ledger_refunded_minor) as ledger_refunded_minor,
    sum(gateway_refunded_minor) as gateway_refunded_minor,
    sum(ledger_charged_back_minor) as ledger_charged_back_minor,
    sum(gateway_charged_back_minor) as gateway_charged_back_minor,
    sum(case
        when ledger_captured_minor <> gateway_captured_minor
            or ledger_refunded_minor <> gateway_refunded_minor
            or ledger_charged_back_minor <> gateway_charged_back_minor
        then 1 else 0
    end) as payments_with_differences
from {{ ref('int_payment_reconciliation') }}
group by payment_date, gateway, currency
