"""The event contract: the raw tables every source (the synthetic world or a real adapter) hands over.

This module is the single definition of the raw schema. The loader validates against it, the
synthetic world writes it, the dbt sources document it (dbt_project/models/staging/_sources.yml
is checked against it by a test) and the serving API accepts live events in the same shape.

Conventions:
- identifiers are pseudonymous strings (a hashed cookie, device or customer key), never names,
  emails or account numbers;
- every timestamp is UTC (`timestamp[us, tz=UTC]` in Parquet; ISO 8601 with an offset or `Z`
  in CSV, and a naive CSV timestamp is read as UTC);
- list-valued attributes are `;`-separated strings, so that CSV and Parquet carry the same thing.

The limits below are the contract's too: `clickintent load` rejects a row that breaks one, and the
service's request schema (serving/schemas.py) imports the same constants, so that nothing the
service would refuse can reach the marts through a load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

PLATFORMS = ("web", "app")
EVENT_TYPES = (
    "page_view",  # a web page rendered
    "screen_view",  # an app screen shown
    "click",  # a click on a link, button or tile
    "search",  # a site or app search; search_query holds the text
    "calculator",  # an interaction with a calculator (mortgage, retirement, loan ...)
    "form_start",  # an application or contact form opened
    "form_submit",  # that form submitted
    "login",  # authentication; from this event on, customer_id is set
    "logout",
    # anything else a tracker sends (consent banners, video plays, custom events): kept, not
    # rejected; the loader and dbt's stg_events map an unknown type to this one
    "other",
)
# The type an event of any type outside EVENT_TYPES is kept as (loader, dbt's stg_events, the service).
UNKNOWN_EVENT_TYPE = "other"
# Open value sets: what the synthetic world writes and the examples the documentation gives. A
# source's own device types, segments and channels are taken as they come. Product families are
# open too: they are the products table's (clickintent.ranker.families), never a list in code.
# The conversion labels say 'none' for "no product opened", so no family may be called that.
NO_PRODUCT_FAMILY = "none"
DEVICE_TYPES = ("desktop", "mobile", "tablet", "other")
CUSTOMER_SEGMENTS = ("mass", "emerging_affluent", "affluent", "student", "small_business")
CONVERSION_CHANNELS = ("web", "app", "branch", "phone")

# ---- limits (written in the regular-expression syntax RE2, which the loader runs through
# pyarrow, and Rust's regex, which pydantic runs for the service, read alike) ----

MAX_ID_CHARS = 128
MAX_PATH_CHARS = 2048
MAX_TEXT_CHARS = 1000  # titles, search queries, referrers, campaign tags
# A dwell time above 24 days is a broken tracker, not a reader; int32 keeps it portable.
MAX_DWELL_MS = 2**31 - 1
# Events before this are a broken clock or a placeholder date (0001-01-01), not web analytics.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# How far ahead of our clock a source's event times may run (a load; the service clamps instead).
MAX_FUTURE_SKEW = timedelta(days=1)

_CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_SPACE_CHARACTERS = r"\x{20}\x{a0}\x{1680}\x{2000}-\x{200b}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}"
# An identifier: 1 to MAX_ID_CHARS characters, none a space or a control character.
ID_PATTERN = f"^[^{_CONTROL_CHARACTERS}{_SPACE_CHARACTERS}]+$"
# Any text: no control characters (no newline, tab or NUL in a path, title or query).
TEXT_PATTERN = f"^[^{_CONTROL_CHARACTERS}]*$"


def event_time_problem(value: datetime, now: datetime | None = None) -> str | None:
    """Why an event time is outside the contract's window, or None. `now=None`: no upper bound
    (the service clamps future times to its clock instead of refusing them)."""
    if value < EARLIEST_EVENT_TIME:
        return f"is before {EARLIEST_EVENT_TIME:%Y-%m-%d}, the earliest event time the contract accepts"
    if now is not None and value > now + MAX_FUTURE_SKEW:
        return f"is more than {MAX_FUTURE_SKEW} after the time of loading"
    return None


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    description: str
    # When set, a non-null value must be one of these.
    allowed: tuple[str, ...] | None = None
    # When set, a non-null numeric value must be at least this.
    minimum: float | None = None
    # When set, a non-null numeric value must be at most this.
    maximum: float | None = None
    # A pseudonymous key: ID_PATTERN (no blank, no spaces or control characters, MAX_ID_CHARS).
    identifier: bool = False
    # When set, a non-null text has at most this many characters (every text: TEXT_PATTERN).
    max_chars: int | None = None
    # An event time: within [EARLIEST_EVENT_TIME, time of loading + MAX_FUTURE_SKEW].
    event_time: bool = False
    # When set with `allowed`, a value outside it is kept as this one instead of rejected.
    unknown_as: str | None = None
    # Why `allowed` is closed and how to extend it, said when a value outside it is rejected.
    allowed_because: str | None = None
    # Values a non-null value may not take, and why (said when one is rejected).
    reserved: tuple[str, ...] = ()
    reserved_because: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    grain: str
    columns: tuple[Column, ...]
    # Columns whose combination identifies a row.
    unique_key: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])


EVENTS = Table(
    name="events",
    grain="one row per raw event, web and app together",
    unique_key=("event_id",),
    columns=(
        Column("event_id", pa.string(), False, "Unique event identifier.", identifier=True),
        Column("event_ts", UTC_TIMESTAMP, False, "When the event happened, UTC.", event_time=True),
        Column("platform", pa.string(), False, "web (public site) or app (authenticated mobile app).", PLATFORMS),
        Column("anonymous_id", pa.string(), False, "Pseudonymous cookie (web) or device (app) identifier.", identifier=True),
        Column(
            "customer_id",
            pa.string(),
            True,
            "Pseudonymous customer key, set only once the visitor is authenticated (from the login event on).",
            identifier=True,
        ),
        Column("event_type", pa.string(), False, "What happened.", EVENT_TYPES, unknown_as=UNKNOWN_EVENT_TYPE),
        Column("page_path", pa.string(), False, "URL path (web) or screen path (app), without query string.", max_chars=MAX_PATH_CHARS),
        Column("page_title", pa.string(), True, "Page or screen title as rendered.", max_chars=MAX_TEXT_CHARS),
        Column(
            "search_query",
            pa.string(),
            True,
            "Search text typed by the visitor (search events); may contain PII.",
            max_chars=MAX_TEXT_CHARS,
        ),
        Column("dwell_ms", pa.int64(), True, "Time on the page or screen, milliseconds.", minimum=0, maximum=MAX_DWELL_MS),
        Column("referrer", pa.string(), True, "Referring host or URL (first event of a visit mostly).", max_chars=MAX_TEXT_CHARS),
        Column("utm_source", pa.string(), True, "Campaign source tag, if any.", max_chars=MAX_TEXT_CHARS),
        Column("device_type", pa.string(), False, "Device class."),
        Column("product_id", pa.string(), True, "Catalog product the page or event is about, if any.", identifier=True),
    ),
)

PRODUCTS = Table(
    name="products",
    grain="one row per catalog product",
    unique_key=("product_id",),
    columns=(
        Column("product_id", pa.string(), False, "Product key.", identifier=True),
        Column("product_name", pa.string(), False, "Display name."),
        Column(
            "family",
            pa.string(),
            False,
            "Product family.",
            max_chars=MAX_ID_CHARS,
            reserved=(NO_PRODUCT_FAMILY,),
            reserved_because="the conversion labels use 'none' for no product opened",
        ),
        Column("category", pa.string(), False, "Finer grouping inside the family (checking, credit_card, mortgage ...)."),
        Column("launched_ts", UTC_TIMESTAMP, False, "When the product became available, UTC."),
        Column("annual_fee_usd", pa.float64(), True, "Annual fee, USD.", minimum=0),
        Column("interest_rate_pct", pa.float64(), True, "Headline APR or APY, percent.", minimum=0),
        Column("min_opening_usd", pa.float64(), True, "Minimum opening deposit or loan amount, USD.", minimum=0),
        Column("target_segment", pa.string(), True, "Segment the product is designed for."),
        Column("complexity", pa.int64(), False, "1 (open in minutes) to 3 (weeks of research, e.g. a mortgage).", minimum=1),
    ),
)

CUSTOMERS = Table(
    name="customers",
    grain="one row per customer profile snapshot",
    unique_key=("customer_id", "snapshot_ts"),
    columns=(
        Column("customer_id", pa.string(), False, "Pseudonymous customer key.", identifier=True),
        Column("snapshot_ts", UTC_TIMESTAMP, False, "When this profile was observed, UTC.", event_time=True),
        Column("segment", pa.string(), False, "Customer segment."),
        Column("tenure_months", pa.int64(), False, "Months since the first account was opened.", minimum=0),
        Column("age_band", pa.string(), True, "Age band, e.g. 25-34."),
        Column("held_product_ids", pa.string(), False, "Products held at snapshot time, ';'-separated (may be empty)."),
        Column("total_balance_usd", pa.float64(), True, "Sum of deposit and investment balances, USD.", minimum=0),
    ),
)

CONVERSIONS = Table(
    name="conversions",
    grain="one row per product opened by a customer",
    unique_key=("conversion_id",),
    columns=(
        Column("conversion_id", pa.string(), False, "Conversion key.", identifier=True),
        Column("customer_id", pa.string(), False, "Pseudonymous customer key of who converted.", identifier=True),
        Column("product_id", pa.string(), False, "Product opened.", identifier=True),
        Column("converted_ts", UTC_TIMESTAMP, False, "When the product was opened, UTC.", event_time=True),
        Column("channel", pa.string(), False, "Where the application was completed."),
    ),
)

TILE_IMPRESSIONS = Table(
    name="tile_impressions",
    grain="one row per product tile shown on the app homepage (an impression shows several tiles)",
    unique_key=("impression_id", "position"),
    columns=(
        Column("impression_id", pa.string(), False, "One homepage render; its tiles share it.", identifier=True),
        Column("customer_id", pa.string(), False, "Pseudonymous customer key.", identifier=True),
        Column("impression_ts", UTC_TIMESTAMP, False, "When the homepage was shown, UTC.", event_time=True),
        Column("position", pa.int64(), False, "Tile slot, 1 = first.", minimum=1),
        Column("product_id", pa.string(), False, "Product on the tile.", identifier=True),
        Column("clicked", pa.bool_(), False, "Whether the tile was clicked."),
    ),
)

RAW_TABLES: dict[str, Table] = {table.name: table for table in (EVENTS, PRODUCTS, CUSTOMERS, CONVERSIONS, TILE_IMPRESSIONS)}
