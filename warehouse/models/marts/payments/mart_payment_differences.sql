-- Every difference between the ledger and the processor: one row per payment and measure
-- (captured, refunded, charged_back) where they disagree. Empty when the books reconcile.
with recon as (
    select * from {{ ref('int_payment_reconciliation') }}
)

select payment_date, gateway, currency, payment_id, order_id, 'captured' as measure,
    ledger_captured_minor as ledger_minor, gateway_captured_minor as gateway_minor,
    ledger_captured_minor - gateway_captured_minor as difference_minor
from recon
where ledger_captured_minor <> gateway_captured_minor
union all
select payment_date, gateway, currency, payment_id, order_id, 'refunded' as measure,
    ledger_refunded_minor, gateway_refunded_minor,
    ledger_refunded_minor - gateway_refunded_minor
from recon
where ledger_refunded_minor <> gateway_refunded_minor
union all
select payment_date, gateway, currency, payment_id, order_id, 'charged_back' as measure,
    ledger_charged_back_minor, gateway_charged_back_minor,
    ledger_charged_back_minor - gateway_charged_back_minor
from recon
where ledger_charged_back_minor <> gateway_charged_back_minor
