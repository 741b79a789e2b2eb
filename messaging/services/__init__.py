"""Every write of messaging, one module per sub-domain (ingest, processing, deliveries, ...)."""
