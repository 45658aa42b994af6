"""The FastAPI application. Every module in ``serving/routers/`` that defines ``router`` is
included; startup and shutdown hooks come from ``serving.lifespan``."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter, FastAPI

import serving.routers as routers_pkg
from serving.docs import install_docs
from serving.errors import install_handlers
from serving.lifespan import lifespan
from shopflow import __version__


def _routers() -> list[APIRouter]:
    found = []
    for info in sorted(pkgutil.iter_modules(routers_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routers_pkg.__name__}.{info.name}")
        if hasattr(module, "router"):
            found.append(module.router)
    return found


def create_app() -> FastAPI:
    app = FastAPI(
        title="Shopflow API",
        version=__version__,
        description="Recommendations, catalog, orders, payments, reviews, wishlists, "
        "notifications and experiments.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_handlers(app)
    install_docs(app)
    for router in _routers():
        app.include_router(router)
    return app
