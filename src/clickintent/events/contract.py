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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
)
DEVICE_TYPES = ("desktop", "mobile", "tablet", "other")
PRODUCT_FAMILIES = ("deposits", "cards", "lending", "home", "investing", "insurance", "business")
CUSTOMER_SEGMENTS = ("mass", "emerging_affluent", "affluent", "student", "small_business")
CONVERSION_CHANNELS = ("web", "app", "branch", "phone")


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
        Column("event_id", pa.string(), False, "Unique event identifier."),
        Column("event_ts", UTC_TIMESTAMP, False, "When the event happened, UTC."),
        Column("platform", pa.string(), False, "web (public site) or app (authenticated mobile app).", PLATFORMS),
        Column("anonymous_id", pa.string(), False, "Pseudonymous cookie (web) or device (app) identifier."),
        Column(
            "customer_id",
            pa.string(),
            True,
            "Pseudonymous customer key, set only once the visitor is authenticated (from the login event on).",
        ),
        Column("event_type", pa.string(), False, "What happened.", EVENT_TYPES),
        Column("page_path", pa.string(), False, "URL path (web) or screen path (app), without query string."),
        Column("page_title", pa.string(), True, "Page or screen title as rendered."),
        Column("search_query", pa.string(), True, "Search text typed by the visitor (search events); may contain PII."),
        Column("dwell_ms", pa.int64(), True, "Time on the page or screen, milliseconds.", minimum=0),
        Column("referrer", pa.string(), True, "Referring host or URL (first event of a visit mostly)."),
        Column("utm_source", pa.string(), True, "Campaign source tag, if any."),
        Column("device_type", pa.string(), False, "Device class.", DEVICE_TYPES),
        Column("product_id", pa.string(), True, "Catalog product the page or event is about, if any."),
    ),
)

PRODUCTS = Table(
    name="products",
    grain="one row per catalog product",
    unique_key=("product_id",),
    columns=(
        Column("product_id", pa.string(), False, "Product key."),
        Column("product_name", pa.string(), False, "Display name."),
        Column("family", pa.string(), False, "Product family.", PRODUCT_FAMILIES),
        Column("category", pa.string(), False, "Finer grouping inside the family (checking, credit_card, mortgage ...)."),
        Column("launched_ts", UTC_TIMESTAMP, False, "When the product became available, UTC."),
        Column("annual_fee_usd", pa.float64(), True, "Annual fee, USD.", minimum=0),
        Column("interest_rate_pct", pa.float64(), True, "Headline APR or APY, percent.", minimum=0),
        Column("min_opening_usd", pa.float64(), True, "Minimum opening deposit or loan amount, USD.", minimum=0),
        Column("target_segment", pa.string(), True, "Segment the product is designed for.", CUSTOMER_SEGMENTS),
        Column("complexity", pa.int64(), False, "1 (open in minutes) to 3 (weeks of research, e.g. a mortgage).", minimum=1),
    ),
)

CUSTOMERS = Table(
    name="customers",
    grain="one row per customer profile snapshot",
    unique_key=("customer_id", "snapshot_ts"),
    columns=(
        Column("customer_id", pa.string(), False, "Pseudonymous customer key."),
        Column("snapshot_ts", UTC_TIMESTAMP, False, "When this profile was observed, UTC."),
        Column("segment", pa.string(), False, "Customer segment.", CUSTOMER_SEGMENTS),
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
        Column("conversion_id", pa.string(), False, "Conversion key."),
        Column("customer_id", pa.string(), False, "Pseudonymous customer key of who converted."),
        Column("product_id", pa.string(), False, "Product opened."),
        Column("converted_ts", UTC_TIMESTAMP, False, "When the product was opened, UTC."),
        Column("channel", pa.string(), False, "Where the application was completed.", CONVERSION_CHANNELS),
    ),
)

TILE_IMPRESSIONS = Table(
    name="tile_impressions",
    grain="one row per product tile shown on the app homepage (an impression shows several tiles)",
    unique_key=("impression_id", "position"),
    columns=(
        Column("impression_id", pa.string(), False, "One homepage render; its tiles share it."),
        Column("customer_id", pa.string(), False, "Pseudonymous customer key."),
        Column("impression_ts", UTC_TIMESTAMP, False, "When the homepage was shown, UTC."),
        Column("position", pa.int64(), False, "Tile slot, 1 = first.", minimum=1),
        Column("product_id", pa.string(), False, "Product on the tile."),
        Column("clicked", pa.bool_(), False, "Whether the tile was clicked."),
    ),
)

RAW_TABLES: dict[str, Table] = {table.name: table for table in (EVENTS, PRODUCTS, CUSTOMERS, CONVERSIONS, TILE_IMPRESSIONS)}
