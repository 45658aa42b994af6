"""The tiny 3-D Secure page of the test gateway (as Stripe's test page): approve or fail."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>3-D Secure test page</title></head>
<body>
<h1>3-D Secure authentication</h1>
<p>Payment <code>{payment_id}</code> asks you to confirm it is you.</p>
<form method="post" action="/api/payments/{payment_id}/authenticate">
  <input type="hidden" name="token" value="{token}">
  <button type="submit" name="result" value="approve" id="approve">Complete authentication</button>
  <button type="submit" name="result" value="fail" id="fail">Fail authentication</button>
</form>
</body></html>
"""

_DONE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authentication finished</title></head>
<body><h1 id="result">Payment {status}</h1><p>You can close this window.</p></body></html>
"""


def page(payment_id: str, token: str) -> str:
    return _PAGE.format(payment_id=escape(payment_id), token=escape(token))


def done(status: str) -> str:
    return _DONE.format(status=escape(status))
