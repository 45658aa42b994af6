"""Payments: the payment service, its ledger, gateway webhooks and the gateways."""
