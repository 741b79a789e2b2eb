"""Celery tasks of onboarding: thin, database ids in, one service call each."""

from celery import shared_task

from onboarding.services import pipeline


@shared_task(name="onboarding.onboarding_advance")
def onboarding_advance(onboarding_id: int) -> None:
    """Run the next runnable steps of one onboarding."""
    pipeline.onboarding_advance(onboarding_id=onboarding_id)
