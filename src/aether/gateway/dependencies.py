"""FastAPI dependencies shared by the API routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aether.store import Store


def _store(request: Request) -> Store:
    """The store the app's lifespan opened."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]
