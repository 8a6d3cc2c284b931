"""The processing worker: routes stored events, delivers them, retries, parks the dead.

    pending event --route--> one delivery per matching route --claim (lease)--> POST
        2xx            -> delivered
        failure        -> retried after a backoff (retry.py), Retry-After honoured
        last attempt   -> dead (the dead-letter queue), until redriven

It runs inside `whp serve` (woken by every stored webhook when there are routes) and alone as
`whp worker`. A step is a few short transactions: the outcomes of the attempts finished since the
last step, the routing of a batch of new events, the claim of a batch of due deliveries. A
delivery is leased while it is attempted (and until its outcome is recorded), so a crash at any
moment leads to redelivery, never to loss. Receivers dedupe on `webhook-id`.

The queue's writes run on `writer`, an executor: in `whp serve` the store's writer thread, so that
the worker's transactions and the ingest commits take turns instead of waiting on each other for
SQLite's one write lock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from webhook_processor import delivery, models, ports, routing

log = logging.getLogger("whp.worker")
Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    batch: int = 200  # events routed / deliveries claimed per step
    max_in_flight: int = 500  # deliveries attempted at once, all destinations together
    poll_seconds: float = 0.25  # how often due retries are looked for when nothing wakes us
    # While busy, a step at most this often: events gather into batches (one transaction for
    # many, instead of one per webhook competing with ingest); well within the latency budget.
    # The end of an attempt cuts it short while a destination is at its max_concurrency (run()).
    min_step_seconds: float = 0.01
    purge_every_seconds: float = 300.0
    retention_days: int = 7


@dataclass(frozen=True)
class Swap:
    """What a reload of the config gives the worker (Worker.swap)."""

    routes: list[routing.Route]
    destinations: dict[str, delivery.Destination]
    paused: Callable[[], Collection[str]]


class Worker:
    def __init__(
        self,
        routes: Sequence[routing.Route],
        destinations: Mapping[str, delivery.Destination],
        queue: ports.DeliveryQueue,
        sender: ports.Sender,
        paused: Callable[[], Collection[str]],
        clock: Clock,
        settings: Settings = Settings(),
        uniform: Callable[[], float] = random.random,
        writer: Executor | None = None,
        retention: Callable[[int], Iterator[ports.PurgeBatch]] | None = None,
        metrics: ports.Metrics | None = None,
    ) -> None:
        self._use(routes, destinations)
        self._queue = queue
        self._sender = sender
        self._paused = paused
        self._clock = clock
        self._settings = settings
        self._uniform = uniform
        self._writer = writer  # None: the loop's default executor
        self._retention = retention  # None: this worker purges nothing
        self._metrics = metrics  # None: not counted (`whp worker` serves no /metrics)
        self._outcomes: list[models.AttemptRecord] = []  # finished attempts, recorded next step
        self._swap: Swap | None = None  # routes and destinations for the next step (swap())
        self._wakeup = asyncio.Event()  # new events stored, or an attempt ended
        self._attempt_ended = asyncio.Event()
        self._stopped = asyncio.Event()  # stop() was called
        self._in_flight: set[asyncio.Task[None]] = set()
        self._running: collections.Counter[str] = collections.Counter()  # in flight, by destination
        self._capped = False  # some destination at its max_concurrency after the last claim
        self._runner: asyncio.Task[None] | None = None
        self._purger: asyncio.Task[None] | None = None

    def _use(
        self, routes: Sequence[routing.Route], destinations: Mapping[str, delivery.Destination]
    ) -> None:
        self._routes = list(routes)
        self._uses_payload = routing.uses_detail(self._routes)  # else routed on metadata
        self._destinations = dict(destinations)
        self._limits = {name: d.max_concurrency for name, d in destinations.items()}
        self._rates = {
            name: d.rate_limit for name, d in destinations.items() if d.rate_limit is not None
        }
        longest = max((d.timeout_seconds for d in destinations.values()), default=15.0)
        # An attempt is capped at its timeout, so this lease outlives it; after a crash, what was
        # under way is attempted again once the lease ends.
        self._lease_ms = int((longest + 10) * 1000)

    # -- reloading the config ------------------------------------------------------------------

    @property
    def queue(self) -> ports.DeliveryQueue:
        """The queue it works on (a reload composes the new pauses over it)."""
        return self._queue

    def swap(
        self,
        routes: Sequence[routing.Route],
        destinations: Mapping[str, delivery.Destination],
        paused: Callable[[], Collection[str]],
    ) -> None:
        """Route and deliver with these from the next step on: a reload of the config, on the
        event loop. A step under way finishes with the routes and limits it began with (its
        matching runs on a thread), and an attempt under way with its destination's settings
        of when it started: its URL, timeout and retry policy."""
        self._swap = Swap(list(routes), dict(destinations), paused)
        self._wakeup.set()

    # -- lifecycle (ports.Service) -------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._runner = loop.create_task(self.run(), name="whp-worker")
        self._purger = loop.create_task(self._purge_periodically(), name="whp-purge")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let attempts under way finish for `grace` seconds, then cancel them
        (their leases expire and they are attempted again later: nothing is lost)."""
        self._stopped.set()
        self._wakeup.set()
        if self._runner is not None:
            await self._runner
        if self._purger is not None:
            await self._purger
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await self.flush()
        except Exception:  # their leases expire and they are attempted again: nothing is lost
            log.exception("could not record the last attempts at shutdown")
        await self._sender.aclose()

    def ready(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def wake(self) -> None:
        """New events are stored: look at once instead of at the next poll."""
        self._wakeup.set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        while not self._stopped.is_set():
            self._wakeup.clear()  # before the step: a wake-up during it is not lost
            self._attempt_ended.clear()
            try:
                busy = await self.step()
            except Exception:  # the store is busy or gone: log, back off, go on
                log.exception("worker step failed; retrying")
                busy = False
            if not busy:
                until, pause = self._wakeup, self._settings.poll_seconds
            elif self._capped:
                # A destination's slots are handed on when a step records their attempts: step
                # again as soon as one ends, not after the pause (else at most max_concurrency
                # deliveries per pause: about 800/s at 10). New events alone wait for the pause.
                until, pause = self._attempt_ended, self._settings.min_step_seconds
            else:
                until, pause = self._stopped, self._settings.min_step_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), pause)

    async def step(self) -> bool:
        """Route what is pending, record finished attempts, start the attempts that are due.
        True when there was work. The reading and matching run on a thread of their own; the
        writes, one job on the writer, so that ingest commits wait for them as little as may be."""
        if self._swap is not None:
            swap, self._swap = self._swap, None
            self._use(swap.routes, swap.destinations)
            self._paused = swap.paused
        routed = await asyncio.to_thread(self._match_pending) if self._routes else []
        outcomes, self._outcomes = self._outcomes, []
        recorded = len(outcomes)
        room = 0 if self._stopped.is_set() else self._settings.max_in_flight - len(self._in_flight)
        try:
            settled, claimed = await self._write(
                self._cycle, outcomes, routed, room, self._now_ms()
            )
        finally:
            self._outcomes[:0] = outcomes  # emptied once recorded; else kept for the next try
        for item in claimed:
            task = asyncio.get_running_loop().create_task(self._attempt(item))
            self._in_flight.add(task)
            self._running[item.destination] += 1
            task.add_done_callback(functools.partial(self._finished, item.destination))
        # Does some destination now have as many attempts under way here as it allows?
        self._capped = any(self._running[name] >= cap for name, cap in self._limits.items())
        # Without routes, settling is only marking new events unrouted: the next poll does the
        # next lot, instead of a transaction on the writer every pause while ingest is busy.
        return bool(recorded or claimed or (settled and self._routes))

    def _finished(self, destination: str, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._running[destination] -= 1
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A bug outside the attempt itself (`_crashed` takes those): said now, not when
            # asyncio collects the task. The delivery stays leased and is attempted again once
            # its lease ends.
            log.error(
                "delivery attempt failed unrecorded; it is attempted again when its lease ends",
                exc_info=exc,
                extra={"destination": destination},
            )
            self._attempt_ended.set()

    def _match_pending(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The next events to route, each with its (route, destination) pairs."""
        events = self._queue.pending_events(self._settings.batch, payload=self._uses_payload)
        return [(e.id, routing.targets(self._routes, e, self._uses_payload)) for e in events]

    def _cycle(
        self,
        outcomes: list[models.AttemptRecord],
        routed: list[tuple[str, list[tuple[str, str]]]],
        room: int,
        now_ms: int,
    ) -> tuple[int, Sequence[models.Claim]]:
        """On the writer: the step's transactions, back to back. Empties `outcomes` once they
        are committed. Returns how many events were routed, and the claimed deliveries."""
        if outcomes:
            self._queue.record_many(outcomes, now_ms)
            outcomes.clear()
        settled = len(routed)
        if routed:
            self._queue.route_many(routed, now_ms)
        elif not self._routes:
            settled = self._queue.route_none()  # nothing to read: all of it is unrouted
        if room <= 0:
            return settled, []
        paused = set(self._paused())  # may read the store: here, not on the event loop
        return settled, self._queue.claim(
            now_ms,
            self._lease_ms,
            min(room, self._settings.batch),
            paused,
            self._limits,
            self._rates,
        )

    async def flush(self) -> None:
        """Record the outcomes of the attempts finished so far (the next step would)."""
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            await self._write(self._queue.record_many, outcomes, self._now_ms())

    # -- retention -----------------------------------------------------------------------------

    async def _purge_periodically(self) -> None:
        """Purge now and every purge_every_seconds, beside the steps, so that a large purge
        never holds deliveries up. Inside a step it did: 50 ms a batch of 500, so about 30 s
        for the five minutes of webhooks a purge finds at 1,000 a second."""
        while not self._stopped.is_set():
            try:
                await self.purge()
            except Exception:  # the store is busy or gone: the next purge does it
                log.exception("purge failed; the next one goes on")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._settings.purge_every_seconds)

    async def purge(self) -> int:
        """Delete the events past the retention whose work is done, batch by batch
        (`retention`: services.operations.Operator.purge_batches), each on the writer, with room
        for ingest in between. Returns how many."""
        if self._retention is None:
            return 0
        cutoff = int((self._clock() - self._settings.retention_days * 86400) * 1000)
        batches = self._retention(cutoff)
        deleted = 0
        while not self._stopped.is_set():
            done = await self._write(next, batches, None)
            if done is None:
                break
            deleted += done.deleted
            if done.next is None:
                break
            await asyncio.sleep(0.05)
        return deleted

    # -- one attempt ---------------------------------------------------------------------------

    async def _attempt(self, item: models.Claim) -> None:
        dest = self._destinations.get(item.destination)
        if dest is not None and item.not_before_ms is not None:
            # The destination's rate limit booked this start.
            wait = item.not_before_ms / 1000 - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            lease_ends = item.lease_until_ms or 0
            if (self._clock() + dest.timeout_seconds) * 1000 > lease_ends:
                # The lease would end before the attempt (the clock jumped?): another claim may
                # already have this delivery. Send nothing; once the lease ends it is claimed
                # and attempted again.
                log.info(
                    "delivery postponed: its start outlasted its lease",
                    extra={"event_id": item.event.id, "destination": item.destination},
                )
                return
        done = await delivery.attempt(
            item.event,
            dest,
            item.webhook_id,
            item.attempt,
            self._sender,
            self._clock,
            self._uniform,
            destination_name=item.destination,
        )
        self._outcomes.append(delivery.record(item, done))
        if self._metrics is not None:
            latency = None
            if done.outcome == "delivered":
                latency = max(0.0, self._clock() - item.event.received_ms / 1000)
            self._metrics.attempted(
                item.destination, done.outcome, done.result.duration_ms / 1000, latency
            )
        self._wakeup.set()  # the next step records it, and the delivery's slot is free again
        self._attempt_ended.set()

    async def _write(self, fn: Callable[..., T], *args: object) -> T:
        """Run a queue call on the writer."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, functools.partial(fn, *args))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
