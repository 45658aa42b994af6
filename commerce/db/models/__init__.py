"""Table declarations, one module per domain. Importing this package registers them all on
``commerce.db.Base.metadata`` (Alembic autogenerate and tests rely on that)."""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_info.name}")
