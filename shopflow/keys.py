"""Moved to ``shopflow.online_store.keys``. This name stays an alias of that module (the same
module object) so imports outside the online store keep working until they move."""

import sys

from shopflow.online_store import keys as _keys

sys.modules[__name__] = _keys
