"""The reference table (bench.refsite.schema creates it; the harness runs that)."""

from django.db import models


class RefEvent(models.Model):
    received_at = models.DateTimeField()
    signature = models.CharField(max_length=80)
    body = models.BinaryField()
    status = models.CharField(max_length=16, default="received")

    class Meta:
        managed = False
        db_table = "bench_ref_event"

    def __str__(self) -> str:
        return f"reference event {self.pk}"
