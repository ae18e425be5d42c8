"""Clients for a running natoqa server: Python (sync and async) and the terminal."""

from natoqa.client.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client"]
