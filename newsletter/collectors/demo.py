"""Demo sources: realistic, deterministic raw records for any month, seeded by the month.

They exist so a new user sees a real newsletter before wiring up any system, and so 13 months
of history exist for comparisons. Tickets go through the same aggregator as every real
ticketing collector; outages through the same uptime aggregation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from random import Random

from newsletter.collectors.aggregate import Outage, aggregate_tickets, service_uptime
from newsletter.collectors.base import Collector
from newsletter.collectors.common import check_range
from newsletter.errors import ConfigError
from newsletter.model import Ticket
from newsletter.period import Month
from newsletter.results import MailStats, Quote, TicketStats, UptimeStats

# More tickets when people start (January, September), fewer in summer and at year's end.
SEASON = {1: 1.15, 2: 1.0, 3: 1.05, 4: 0.95, 5: 0.95, 6: 0.9, 7: 0.8, 8: 0.75, 9: 1.2, 10: 1.05, 11: 1.0, 12: 0.8}
CATEGORIES = (
    ("Access & accounts", 30), ("Laptops & hardware", 22), ("Email & calendar", 14), ("Software", 14),
    ("Printing", 8), ("Network & VPN", 7), ("Onboarding", 5),
)
# Fewer hands in the holidays: more tickets wait (for a part, a vendor, someone back from leave)
# and the backlog grows, to shrink again in the months after.
AWAY = {7: 1.5, 8: 1.8, 12: 1.6}
SLA_TARGET_S = 3 * 86400
MAX_RESOLUTION_S = 50 * 86400  # every demo ticket resolves within this, so 3 months hold the whole backlog
UTC = UTC
# With `quotes = true`: what colleagues wrote with a good rating, as a help desk keeps it
DEMO_QUOTES = (
    (3, "The new laptop was ready on my first day, with everything I needed. Thank you!"),
    (9, "Fixed my VPN in ten minutes while I was on a call with a customer."),
    (17, "Patient and friendly, even though I forgot my password twice in one week."),
)


def _month_index(month: Month) -> int:
    return month.year * 12 + month.month


@dataclass(frozen=True)
class DemoTicketingSettings:
    seed: str = "demo"
    tickets_per_month: int = 420
    quotes: bool = False  # a few good ratings' comments, as candidates for "What colleagues said"


class DemoTicketing(Collector):
    """A help desk of a few hundred people: tickets with responses, resolutions, SLA and CSAT."""

    type = "demo_ticketing"
    kind = "ticketing"
    offline = True
    Settings = DemoTicketingSettings

    def validate(self) -> None:
        check_range(self.name, "tickets_per_month", self.settings.tickets_per_month, 1, 100_000)

    def collect(self, month: Month) -> TicketStats:
        """Every ticket resolves within MAX_RESOLUTION_S, so the two months before hold the backlog.

        Their tickets resolved before this month began count for nothing in it (not opened, not
        resolved, not open at its end), so they are left out: the aggregator sees about a third.
        """
        start = month.start.astimezone(UTC)  # the tickets' own tzinfo: compared field by field, no offsets
        earlier = [t for m in (month.shift(-2), month.shift(-1)) for t in self.tickets_created(m)
                   if t.resolved >= start]
        stats = aggregate_tickets([*earlier, *self.tickets_created(month)], month)
        if not self.settings.quotes:
            return stats
        days = month.first_day
        return replace(stats, quotes=tuple(Quote(text, days.replace(day=day).isoformat()) for day, text in DEMO_QUOTES))

    def tickets_created(self, month: Month) -> tuple[Ticket, ...]:
        return _demo_tickets(self.settings.seed, self.settings.tickets_per_month, month.year, month.month,
                             month.start.timestamp(), month.seconds)


@lru_cache(maxsize=32)
def _demo_tickets(seed: str, volume: int, year: int, month_no: int, start: float, span: int) -> tuple:
    rng = Random(f"{seed}:tickets:{year}-{month_no}")
    age = year * 12 + month_no - 2020 * 12
    # The team gets a little faster over the years; noise makes some months better than others.
    speed = (0.985 ** (age % 36)) * rng.uniform(0.85, 1.15)
    count = round(volume * SEASON[month_no] * rng.uniform(0.9, 1.1))
    names, weights = zip(*CATEGORIES, strict=True)
    categories = rng.choices(names, weights, k=count)
    random, gauss, stamp, exp = rng.random, rng.gauss, datetime.fromtimestamp, math.exp
    answer_mu, solve_mu = math.log(14 * speed * 60), math.log(5.5 * speed * 3600)
    waiting = rng.uniform(0.045, 0.085) * AWAY.get(month_no, 1.0)  # the share of tickets that wait days
    # Ticket._make with fields in order: a quarter quicker than keywords for ~6,000 tickets a preview
    make, prefix = Ticket._make, f"{year}{month_no:02d}-"
    tickets = []
    for number, category in enumerate(categories):
        created = start + random() * span
        first = created + exp(gauss(answer_mu, 0.9)) if random() < 0.93 else None
        work = exp(gauss(solve_mu, 1.25))
        waited = (7 + 35 * random()) * 86400 if random() < waiting else 0.0  # a week to six
        solve = min(work + waited, MAX_RESOLUTION_S)
        resolved = max(created + solve, first or created)
        # waiting on someone else pauses the SLA clock, as help desks do; the person still waited
        sla_breached = (min(work, resolved - created) > SLA_TARGET_S) if random() < 0.9 else None
        csat_positive = (random() < (0.96 if solve < 86400 else 0.8)) if random() < 0.22 else None
        tickets.append(make((
            prefix + str(number), stamp(created, UTC), stamp(first, UTC) if first else None, stamp(resolved, UTC),
            category, sla_breached, csat_positive, None, None,  # id, times, category, SLA, CSAT, no durations
        )))
    return tuple(tickets)


@dataclass(frozen=True)
class DemoMailSettings:
    seed: str = "demo"
    messages_per_day: int = 6000


class DemoMailSecurity(Collector):
    """A mail filter's daily counters, with the odd phishing campaign, summed over the month."""

    type = "demo_mail_security"
    kind = "mail_security"
    offline = True
    Settings = DemoMailSettings

    def validate(self) -> None:
        check_range(self.name, "messages_per_day", self.settings.messages_per_day, 1)

    def collect(self, month: Month) -> MailStats:
        rng = Random(f"{self.settings.seed}:mail:{month.label}")
        campaign_day = rng.randrange(month.days) if rng.random() < 0.5 else -1
        totals = dict.fromkeys(("scanned", "spam", "phishing", "malware", "other"), 0)
        for day in range(month.days):
            scanned = round(self.settings.messages_per_day * rng.uniform(0.6, 1.25))
            campaign = 6.0 if day == campaign_day else 1.0
            totals["scanned"] += scanned
            totals["spam"] += round(scanned * rng.uniform(0.18, 0.3))
            totals["phishing"] += round(scanned * rng.uniform(0.002, 0.006) * campaign)
            totals["malware"] += round(scanned * rng.uniform(0.0002, 0.0008))
            totals["other"] += round(scanned * rng.uniform(0.005, 0.012))
        blocked = totals["spam"] + totals["phishing"] + totals["malware"] + totals["other"]
        return MailStats(totals["scanned"], totals["spam"], totals["phishing"], totals["malware"], blocked)


@dataclass(frozen=True)
class DemoUptimeSettings:
    seed: str = "demo"
    services: list[str] = field(default_factory=lambda: ["Email", "VPN", "Intranet", "Wi-Fi", "File shares"])


class DemoUptime(Collector):
    """Monitors with a few short outages a month and now and then a planned maintenance window."""

    type = "demo_uptime"
    kind = "uptime"
    offline = True
    Settings = DemoUptimeSettings

    def validate(self) -> None:
        if not self.settings.services:
            raise ConfigError(f"source {self.name}: services must name at least one service")

    def collect(self, month: Month) -> UptimeStats:
        start, span = month.start.timestamp(), month.seconds
        services = []
        for service in self.settings.services:
            rng = Random(f"{self.settings.seed}:uptime:{service}:{month.label}")
            outages = []
            for _ in range(rng.choices((0, 1, 2, 3), (45, 32, 16, 7))[0]):
                begin = start + rng.random() * span
                minutes = min(rng.lognormvariate(math.log(9), 1.0), 240)
                outages.append(_outage(begin, minutes * 60))
            if rng.random() < 0.08:  # a planned maintenance night
                outages.append(_outage(start + rng.random() * span, rng.uniform(1, 2.5) * 3600))
            services.append(service_uptime(service, outages, month))
        return UptimeStats(tuple(services))


def _outage(begin: float, seconds: float) -> Outage:
    return Outage(datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(begin + seconds, UTC))
