"""APScheduler triggers for schedules, next run times, and the interval a schedule promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backup_agent.daemon.settings import Schedule


def trigger_for(sched: Schedule) -> Any:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if sched.every is not None:
        return IntervalTrigger(seconds=sched.every.total_seconds(), timezone=UTC)
    return CronTrigger.from_crontab(sched.expr, timezone=UTC)


def next_run(sched: Schedule, now: datetime) -> datetime | None:
    if sched.off:
        return None
    if sched.every is not None:
        return now + sched.every
    result: datetime | None = trigger_for(sched).get_next_fire_time(None, now)
    return result


def interval_of(sched: Schedule) -> timedelta:
    """How often a schedule fires (the gap between its next two fire times for cron)."""
    if sched.every is not None:
        return sched.every
    if sched.off:
        return timedelta(days=1)
    trigger = trigger_for(sched)
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    return (second - first) if first and second else timedelta(days=1)
