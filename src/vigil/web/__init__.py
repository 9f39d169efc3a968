"""Server-rendered pages (Jinja2): the responders' console. `install(app)` adds it to an app."""

from vigil.web.app import install
from vigil.web.auth import set_password

__all__ = ["install", "set_password"]
