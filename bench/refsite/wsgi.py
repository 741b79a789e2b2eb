"""WSGI entry of the reference project (gunicorn bench.refsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.refsite.settings")
application = get_wsgi_application()
