"""How intents turn into page choices, dwell times and traffic sources.

Built once per world from the catalog and intent specs: samplers over web pages for each
(intent, stage), over app screens for each intent, the dwell-time model, and the entry
sources (referrer host, utm_source).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.catalog import BROWSABLE_KINDS, KIND, KINDS, Catalog
from clickintent.synth.intents import INTENT_INDEX, INTENTS, N_INTENTS, N_STAGES, NONE
from clickintent.synth.products import PRODUCT_INDEX, PRODUCTS
from clickintent.synth.sampling import RowSampler

EVENT_TYPES = ("page_view", "screen_view", "click", "search", "calculator", "form_start", "form_submit", "login", "logout")
ET = {name: i for i, name in enumerate(EVENT_TYPES)}

# Relative weight of each kind of page at each stage (research, compare, apply).
STAGE_KIND_WEIGHTS = {
    "section": (2.0, 1.5, 1.0),
    "info": (3.0, 2.0, 1.5),
    "faq": (1.0, 1.0, 2.0),
    "compare": (0.7, 3.0, 1.0),
    "product": (1.5, 4.0, 3.0),
    "rates": (1.2, 2.5, 1.5),
    "tool": (1.0, 3.0, 1.0),
    "article": (5.0, 1.5, 0.5),
    "help": (3.0, 3.0, 3.0),
    "security": (3.0, 3.0, 3.0),
    "promotion": (0.5, 0.5, 0.5),
    "location": (0.1, 0.2, 0.4),  # finding a branch or loan officer, mostly close to applying
}
HOME_SHARE = 0.04  # of steps, the homepage
GENERIC_SHARE = 0.02  # about, locations, untagged articles, hub pages
CROSS_SHARE = 0.05  # any intent-tagged page: curiosity beyond the goal


def product_affinity() -> np.ndarray:
    """(N_INTENTS, n_products): how much each intent is about each product, 1 = its main product."""
    affinity = np.zeros((N_INTENTS, len(PRODUCTS)))
    for i, spec in enumerate(INTENTS):
        for product_id, weight in spec.products.items():
            affinity[i, PRODUCT_INDEX[product_id]] = weight
        affinity[i] /= affinity[i].max()
    return affinity


def web_page_weights(catalog: Catalog) -> np.ndarray:
    """Rows intent * N_STAGES + stage, then one row for 'none' sessions; columns all pages."""
    n_pages = len(catalog.pages)
    kind = catalog.kind
    browsable = np.isin(kind, [KIND[k] for k in BROWSABLE_KINDS]) & (np.arange(n_pages) < catalog.n_web)
    untagged = browsable & ~catalog.intent_tags.any(axis=1)
    generic = untagged & np.isin(kind, [KIND[k] for k in ("about", "location", "article", "section")])
    tagged_any = browsable & catalog.intent_tags.any(axis=1) & (kind != KIND["search"])
    affinity = product_affinity()

    def normalised(mask_weights: np.ndarray) -> np.ndarray:
        total = mask_weights.sum()
        return mask_weights / total if total > 0 else mask_weights

    rows = np.zeros((N_INTENTS * N_STAGES + 1, n_pages))
    for i, spec in enumerate(INTENTS):
        for stage in range(N_STAGES):
            weights = np.zeros(n_pages)
            for kind_name, by_stage in STAGE_KIND_WEIGHTS.items():
                mask = browsable & (kind == KIND[kind_name]) & catalog.intent_tags[:, i]
                weights[mask] = by_stage[stage]
            # Product pages of the intent's main products are read more than side products.
            with_product = catalog.product >= 0
            weights[with_product] *= 0.5 + affinity[i, catalog.product[with_product]]
            row = (1 - HOME_SHARE - GENERIC_SHARE - CROSS_SHARE - spec.search_share) * normalised(weights)
            row[catalog.special["home"]] += HOME_SHARE
            row[catalog.special["search"]] += spec.search_share
            row += GENERIC_SHARE * normalised(generic.astype(float))
            row += CROSS_SHARE * normalised(tagged_any.astype(float))
            rows[i * N_STAGES + stage] = row
    casual = np.zeros(n_pages)
    casual[catalog.special["home"]] = 0.2
    casual[catalog.special["search"]] = 0.05
    casual += 0.45 * normalised(generic.astype(float))
    casual += 0.30 * normalised(browsable.astype(float) * (kind != KIND["search"]))
    rows[N_INTENTS * N_STAGES] = casual
    return rows


# Routine servicing screens every customer opens whatever their goal.
ROUTINE_SCREENS = (
    "/app/accounts/overview",
    "/app/accounts/activity",
    "/app/transfers/new",
    "/app/transfers/zelle",
    "/app/bill-pay/new",
    "/app/deposits/mobile-check",
    "/app/cards/overview",
)
APP_SEARCH_SHARE = 0.04


def app_screen_weights(catalog: Catalog) -> np.ndarray:
    """Rows per intent plus one 'routine' row (index NONE); columns all pages (app screens only)."""
    n_pages = len(catalog.pages)
    rows = np.zeros((N_INTENTS + 1, n_pages))
    routine = np.zeros(n_pages)
    for path in ROUTINE_SCREENS:
        routine[catalog.index_of(path)] = 1.0
    routine /= routine.sum()
    screens = catalog.kind == KIND["app_screen"]
    for i in range(N_INTENTS):
        tagged = (screens & catalog.intent_tags[:, i]).astype(float)
        tagged /= tagged.sum()
        rows[i] = 0.6 * tagged + (0.4 - APP_SEARCH_SHARE) * routine
        rows[i, catalog.special["app_search"]] += APP_SEARCH_SHARE
    rows[NONE] = (1 - APP_SEARCH_SHARE) * routine
    rows[NONE, catalog.special["app_search"]] += APP_SEARCH_SHARE
    return rows


@dataclass
class DwellModel:
    """Log-normal dwell per (event type, page kind): median seconds and sigma."""

    median_s: np.ndarray  # (n_event_types, n_kinds)
    sigma: np.ndarray

    def draw(self, rng: np.random.Generator, event_type: np.ndarray, kind: np.ndarray) -> np.ndarray:
        median = self.median_s[event_type, kind]
        sigma = self.sigma[event_type, kind]
        seconds = median * np.exp(sigma * rng.standard_normal(len(event_type)))
        return np.minimum(seconds * 1000.0, MAX_DWELL_MS).astype(np.int64)


# Dwell is capped so that consecutive events of a session stay well inside 25 minutes.
MAX_DWELL_MS = 20 * 60 * 1000

_PAGE_VIEW_DWELL = {  # median seconds, sigma
    "home": (9, 0.7),
    "section": (18, 0.8),
    "info": (45, 0.8),
    "faq": (50, 0.8),
    "compare": (70, 0.8),
    "product": (45, 0.8),
    "rates": (35, 0.7),
    "tool": (20, 0.7),
    "article": (85, 0.9),
    "help": (40, 0.8),
    "security": (50, 0.8),
    "about": (20, 0.8),
    "location": (25, 0.7),
    "promotion": (20, 0.7),
    "online_banking": (35, 0.8),
    "search": (6, 0.6),
    "login": (6, 0.5),
    "apply": (30, 0.7),
}
_SCREEN_DWELL = {"app_home": (7, 0.6), "app_screen": (22, 0.8), "app_offer": (35, 0.7), "app_search": (6, 0.6), "app_apply": (40, 0.7)}


def dwell_model() -> DwellModel:
    n_types, n_kinds = len(EVENT_TYPES), len(KINDS)
    median = np.full((n_types, n_kinds), 10.0)
    sigma = np.full((n_types, n_kinds), 0.7)
    for kind_name, (m, s) in _PAGE_VIEW_DWELL.items():
        median[ET["page_view"], KIND[kind_name]], sigma[ET["page_view"], KIND[kind_name]] = m, s
    for kind_name, (m, s) in _SCREEN_DWELL.items():
        median[ET["screen_view"], KIND[kind_name]], sigma[ET["screen_view"], KIND[kind_name]] = m, s
    median[ET["click"]], sigma[ET["click"]] = 2.5, 0.6
    median[ET["click"], KIND["app_offer"]], sigma[ET["click"], KIND["app_offer"]] = 35, 0.7  # the offer read after a tile click
    median[ET["calculator"]], sigma[ET["calculator"]] = 15, 0.7
    median[ET["search"]], sigma[ET["search"]] = 6, 0.6
    median[ET["form_start"]], sigma[ET["form_start"]] = 300, 0.5  # scaled by product complexity in the generators
    median[ET["form_submit"]], sigma[ET["form_submit"]] = 10, 0.5
    median[ET["login"]], sigma[ET["login"]] = 6, 0.5
    median[ET["logout"]], sigma[ET["logout"]] = 2, 0.5
    return DwellModel(median, sigma)


# Entry sources: (referrer host or None, utm_source or None). Rows of SOURCE_WEIGHTS pick
# among them by how the visit starts.
SOURCES = (
    (None, None),  # direct / bookmark / typed
    ("google.com", None),
    ("bing.com", None),
    ("duckduckgo.com", None),
    ("google.com", "google_ads"),
    ("bing.com", "bing_ads"),
    (None, "email"),
    ("facebook.com", "facebook"),
    ("instagram.com", "instagram"),
    ("reddit.com", None),
    ("nerdwallet.com", "nerdwallet"),
    ("bankrate.com", "bankrate"),
    ("creditkarma.com", "creditkarma"),
    ("zillow.com", "zillow"),
    ("thepointsguy.com", "thepointsguy"),
    ("investopedia.com", None),
)
REFERRERS = tuple(sorted({r for r, _ in SOURCES if r}))
UTM_SOURCES = tuple(sorted({u for _, u in SOURCES if u}))
SOURCE_REFERRER = np.array([REFERRERS.index(r) if r else -1 for r, _ in SOURCES], dtype=np.int16)
SOURCE_UTM = np.array([UTM_SOURCES.index(u) if u else -1 for _, u in SOURCES], dtype=np.int16)

_BASE_SOURCE = np.array([0.22, 0.36, 0.07, 0.02, 0.08, 0.02, 0.06, 0.03, 0.015, 0.015, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_PARTNERS = {  # partner sites that send each intent's visitors
    "home_buying": ("zillow.com", "bankrate.com"),
    "refinancing": ("bankrate.com",),
    "debt_consolidation": ("nerdwallet.com", "creditkarma.com"),
    "building_credit": ("creditkarma.com", "nerdwallet.com"),
    "travel_rewards": ("thepointsguy.com", "nerdwallet.com"),
    "retirement": ("investopedia.com",),
    "emergency_savings": ("bankrate.com", "nerdwallet.com"),
    "small_business": ("nerdwallet.com",),
    "car_purchase": ("bankrate.com",),
    "student_loans": ("nerdwallet.com",),
    "starting_to_invest": ("investopedia.com",),
    "account_servicing": (),
    "fraud_concern": (),
}


def source_weights() -> np.ndarray:
    """Rows per intent (index NONE for casual visits); an extra last row for visits entering on the homepage."""
    rows = np.zeros((N_INTENTS + 2, len(SOURCES)))
    hosts = [r for r, _ in SOURCES]
    for name, partners in _PARTNERS.items():
        row = _BASE_SOURCE.copy()
        for host in partners:
            row[hosts.index(host)] += 0.12 / len(partners)
        if name in ("account_servicing", "fraud_concern"):
            row[0] += 0.35  # customers type the address or use a bookmark
        rows[INTENT_INDEX[name]] = row
    rows[NONE] = _BASE_SOURCE
    homepage = np.zeros(len(SOURCES))
    homepage[0], homepage[1], homepage[2], homepage[6], homepage[4] = 0.62, 0.2, 0.05, 0.08, 0.05
    rows[N_INTENTS + 1] = homepage
    return rows


@dataclass
class Behaviour:
    web_pages: RowSampler
    app_screens: RowSampler
    dwell: DwellModel
    sources: RowSampler
    affinity: np.ndarray  # (N_INTENTS, n_products)


def build_behaviour(catalog: Catalog) -> Behaviour:
    return Behaviour(
        web_pages=RowSampler(web_page_weights(catalog)),
        app_screens=RowSampler(app_screen_weights(catalog)),
        dwell=dwell_model(),
        sources=RowSampler(source_weights()),
        affinity=product_affinity(),
    )
