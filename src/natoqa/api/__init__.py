"""The HTTP API: ``natoqa.api.app.create_app`` builds it.

Kept free of imports so that clients can use ``natoqa.api.schemas`` without
loading the server's dependencies.
"""
