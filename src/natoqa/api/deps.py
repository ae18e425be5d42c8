"""FastAPI dependencies: how routers reach the service and the settings.

They are ``async`` although they never await: FastAPI runs a plain ``def``
dependency in the thread pool, which cost every request two thread hand-offs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from natoqa.config import Settings
from natoqa.service.service import QAService


async def get_service(request: Request) -> QAService:
    service: QAService = request.app.state.service
    return service


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[QAService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
