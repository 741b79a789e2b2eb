"""`manage.py create_tech_provider --name NAME [...]`: create an account, print its token once."""

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from onboarding.models import TechProvider
from onboarding.services.tech_providers import tech_provider_create


class Command(BaseCommand):
    help = "Create a Tech Provider and print its auth_id, auth_token (shown once) and public_id."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--no-whatsapp", action="store_true", help="WhatsApp not enabled")
        parser.add_argument("--no-tech-provider-permission", action="store_true")
        parser.add_argument("--mps-inactive", action="store_true", help="MPS not active")
        parser.add_argument("--meta-app-id", default="")
        parser.add_argument("--meta-config-id", default="")
        parser.add_argument("--webhook-url", default="")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        issued = tech_provider_create(
            name=options["name"],
            whatsapp_enabled=not options["no_whatsapp"],
            tech_provider_permission=not options["no_tech_provider_permission"],
            mps_status=(
                TechProvider.MpsStatus.INACTIVE
                if options["mps_inactive"]
                else TechProvider.MpsStatus.ACTIVE
            ),
            meta_app_id=options["meta_app_id"],
            meta_config_id=options["meta_config_id"],
            webhook_url=options["webhook_url"],
        )
        tp = issued.tech_provider
        output = {"auth_id": tp.auth_id, "auth_token": issued.auth_token, "public_id": tp.public_id}
        if options["json"]:
            self.stdout.write(json.dumps(output))
            return
        for key, value in output.items():
            self.stdout.write(f"{key}: {value}")
        self.stdout.write("The auth_token is shown only now; store it safely.")
