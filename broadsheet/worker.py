"""`broadsheet worker`: the long-lived scheduler. It only schedules; the work stays in ingest/digests.

Jobs (APScheduler 3, coalesced, one instance each):
- ``poll``: every ``[worker].poll_every``, a poll round over the feeds due by their own
  next-poll times, then the alerts due about failing and quiet feeds (with ``[alerts] email``),
  then a retry of any failed digest whose backoff has passed;
- ``digest:<email>``: at each subscriber's schedule in their time zone (their own choice, else
  the config's; re-read after each poll round).
On start the first poll round runs at once and every subscriber's digest is checked right after
it, so a digest missed while the worker was down is delivered once, covering the whole gap, and
a new subscriber's first digest already holds the articles of that round.

Signals: SIGTERM/SIGINT stop taking new work and give in-flight work ``shutdown_timeout`` to
finish (each feed and each digest commits on its own, so abandoning is safe), then exit 0.
SIGHUP reloads the config; a broken new config is logged and the old one stays in force. A
changed ``[poll] workers`` starts a new parser pool; the old one finishes the round that uses it
and is closed when the next round starts.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from broadsheet import api
from broadsheet.app import App
from ingest.errors import BroadsheetError, ConfigError
from ingest.parsing_pool import ParsingPool
from ingest.poll import OFFLINE, poll, worker_name
from ingest.store.workers import beat, failed

log = logging.getLogger("broadsheet.worker")


class Worker:
    """Schedules poll rounds and digests until told to stop."""

    def __init__(self, config_path: Path | None, application: App) -> None:
        self.config_path = config_path
        self.app = application
        self.name = worker_name()
        self.started = datetime.now(UTC)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.reload_requested = False
        self.parser = ParsingPool(application.settings.poll.workers)
        self._retired: list[ParsingPool] = []  # replaced by a reload; closed by the next round
        self._parsers = threading.Lock()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._job_failed, EVENT_JOB_ERROR)
        self._scheduled: dict[
            str, tuple[str, str]
        ] = {}  # subscriber -> the cron and zone of its job

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status."""
        self._install_signals()
        self._schedule()
        self.scheduler.start()
        log.info("worker %s started with %s", self.name, self._describe())
        while not self.stopping.is_set():
            self.wake.wait(timeout=1.0)
            self.wake.clear()
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
        return self._shutdown()

    def _describe(self) -> str:
        settings = self.app.settings
        return (
            f"{len(settings.feeds)} feeds, {len(settings.subscribers)} subscribers, "
            f"polling every {settings.worker.poll_every:g} s ({settings.path})"
        )

    def _schedule(self) -> None:
        settings = self.app.settings
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self.poll_job,
            "interval",
            seconds=settings.worker.poll_every,
            id="poll",
            next_run_time=now,
            replace_existing=True,
        )
        self._schedule_digests()

    def _schedule_digests(self) -> None:
        """One job per subscriber at their own schedule (their choice, else the config's)."""
        schedules = self._schedules()
        if schedules == self._scheduled:
            return
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id.removeprefix("digest:") not in schedules:
                job.remove()
        for key, (cron, zone) in schedules.items():
            if self._scheduled.get(key) == (cron, zone):
                continue
            self.scheduler.add_job(
                self.digest_job,
                CronTrigger.from_crontab(cron, timezone=zone),
                args=[key],
                id=f"digest:{key}",
                replace_existing=True,
            )
        self._scheduled = schedules

    def _schedules(self) -> dict[str, tuple[str, str]]:
        """Each subscriber's cron and zone; the config's when the store cannot say."""
        try:
            people = api.effective_subscribers(self.app)
        except BroadsheetError as error:
            log.warning("subscribers' own schedules unknown (%s); using the config's", error)
            people = self.app.settings.subscribers
        return {person.key: (person.cron, person.timezone) for person in people}

    def poll_job(self) -> None:
        """A poll round over the due feeds, then retries of failed digests that are due."""
        if self.stopping.is_set():
            return
        application = self.app
        with self._parsers:  # one poll job at a time: no round uses a retired pool any more
            retired, self._retired = self._retired, []
            parser = self.parser
        for pool in retired:
            pool.close()
        try:
            report = poll(
                application.engine,
                application.settings.poll,
                owner=self.name,
                parser=parser,
                stop=self.stopping,
            )
            beat(application.engine, self.name, self.started, report.as_dict())
        except BroadsheetError as error:
            log.error("poll round failed: %s", error)
            self._round_failed(str(error))
            return
        except Exception as error:  # a bug: the worker goes on, and `broadsheet health` says so
            log.exception("poll round crashed")
            self._round_failed(f"the poll round crashed: {type(error).__name__}: {error}")
            return
        log.info("poll: %s", report.summary(), extra={"round": report.as_dict()})
        for failure in report.errors:
            log.warning("feed %s: %s", failure["url"], failure["error"])
        if report.offline:
            log.warning(OFFLINE)
        self.alerts_job()
        self._schedule_digests()  # a subscriber may have chosen another schedule meanwhile
        self.digest_job()

    def _round_failed(self, error: str) -> None:
        """Record the failed round for `broadsheet health`, when the store lets us."""
        try:
            failed(self.app.engine, self.name, self.started, error)
        except BroadsheetError as unrecorded:
            log.warning("the failed round could not be recorded either: %s", unrecorded)

    def alerts_job(self) -> None:
        """Mail [alerts] email about feeds failing or quiet (only when it is set)."""
        if self.stopping.is_set() or not self.app.settings.alerts.enabled:
            return
        try:
            report = api.alerts(self.app, owner=self.name)
        except BroadsheetError as error:
            log.error("alerts run failed: %s", error)
            return
        if report.alerts:
            log.info("alerts: %s", report.summary())
        for failure in report.errors:
            log.warning("alerts to %s not sent: %s", failure["recipient"], failure["error"])

    def digest_job(self, key: str | None = None) -> None:
        """Deliver the digests that are due (one subscriber's, or everyone's)."""
        if self.stopping.is_set():
            return
        try:
            report = api.deliver(
                self.app,
                subscribers=None if key is None else [key],
                owner=self.name,
                log=log.log,  # failures at WARNING, a digest given up at ERROR
            )
        except BroadsheetError as error:
            log.error("digest run failed: %s", error)
            return
        if report.due:
            log.info("digests: %s", report.summary())

    def reload(self) -> None:
        """Re-read the config; keep the old one when the new one is broken."""
        try:
            fresh = App.load(self.config_path)
            _ = fresh.engine
        except ConfigError as error:
            log.error(
                "config reload failed; keeping the previous config:\n  %s",
                "\n  ".join(error.problems),
            )
            return
        except BroadsheetError as error:
            log.error("config reload failed; keeping the previous config: %s", error)
            return
        except Exception:  # a bug in reading the new config must not stop a running worker
            log.exception("config reload failed; keeping the previous config")
            return
        old, self.app = self.app, fresh
        workers = fresh.settings.poll.workers
        if workers != old.settings.poll.workers:
            with self._parsers:
                self._retired.append(self.parser)
                self.parser = ParsingPool(workers)
            count = self.parser.workers
            where = f"{count} processes" if count > 1 else "one thread"
            log.info("[poll] workers changed: parsing now in %s", where)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        self._scheduled = {}
        self._schedule()
        old.close()
        log.info("config reloaded: %s", self._describe())

    def _pools(self) -> list[ParsingPool]:
        with self._parsers:
            return [self.parser, *self._retired]

    def _job_failed(self, event: JobExecutionEvent) -> None:
        log.error("job %s crashed: %r", event.job_id, event.exception)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._hangup)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing in-flight work", signal.Signals(signum).name)
        self.stopping.set()
        self.wake.set()

    def _hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True
        self.wake.set()

    def _shutdown(self) -> int:
        timeout = self.app.settings.worker.shutdown_timeout
        self.scheduler.pause()
        done = threading.Event()

        def finish() -> None:
            self.scheduler.shutdown(wait=True)
            for pool in self._pools():
                pool.close()
            done.set()

        threading.Thread(target=finish, daemon=True).start()
        if done.wait(timeout):
            log.info("worker %s stopped cleanly", self.name)
            self.app.close()
            return 0
        log.warning(
            "in-flight work did not finish within %g s; abandoning it (each feed and digest "
            "commits on its own, so nothing is half-written)",
            timeout,
        )
        for pool in self._pools():  # idle parser processes would outlive os._exit and wait
            pool.kill()
        logging.shutdown()
        os._exit(0)  # threads stuck in network calls cannot be joined; the store is consistent
