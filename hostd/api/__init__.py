"""The host daemon's HTTP API on its Unix socket: routes and handlers (app.py), request schemas (schemas.py),
the aiohttp server (server.py), the operator token (operator.py) and the OpenAPI document (openapi.py).

Usage:
    from hostd.api.app import serve_api, ROUTES
"""
