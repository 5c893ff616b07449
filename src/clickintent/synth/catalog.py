"""One vocabulary of every page path the world can emit: web pages, app screens, junk paths.

Events refer to pages by index into this vocabulary; page_path, page_title and product_id
columns are filled from it at the end (one dictionary take each).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clickintent.synth.intents import INTENT_INDEX, N_INTENTS
from clickintent.synth.products import LAUNCH_REPLACEMENT, LAUNCHED_PRODUCT, PRODUCT_INDEX, PRODUCTS
from clickintent.synth.site import (
    APP_HOME,
    APP_SCREENS,
    APP_SEARCH,
    BANK,
    FAMILY_SCREEN,
    JUNK_PATHS,
    Page,
    build_web_pages,
)

KINDS = (
    "home",
    "section",
    "info",
    "faq",
    "compare",
    "product",
    "rates",
    "tool",
    "apply",
    "article",
    "help",
    "security",
    "about",
    "location",
    "promotion",
    "search",
    "login",
    "online_banking",
    "app_home",
    "app_screen",
    "app_offer",
    "app_apply",
    "app_search",
    "junk",
)
KIND = {name: i for i, name in enumerate(KINDS)}

# Web pages a visitor can reach by browsing (everything but forms, login and online banking,
# which are entered only through their own steps).
BROWSABLE_KINDS = (
    "home",
    "section",
    "info",
    "faq",
    "compare",
    "product",
    "rates",
    "tool",
    "article",
    "help",
    "security",
    "about",
    "location",
    "promotion",
    "search",
)


@dataclass
class Catalog:
    pages: list[Page]
    n_web: int  # pages [0, n_web) are the public site
    kind: np.ndarray  # int8 per page
    product: np.ndarray  # int16 per page, -1 if none
    intent_tags: np.ndarray  # bool (n_pages, N_INTENTS)
    product_page: np.ndarray  # per product: its public product page
    apply_page: np.ndarray  # per product: /apply/<slug>
    offer_screen: np.ndarray  # per product: /app/offers/<product_id>
    app_apply_screen: np.ndarray  # per product: /app/apply/<product_id>
    family_screen: np.ndarray  # per product: app screen for its family (servicing of holdings)
    # Page served instead of each page before the mid-window launch (identity for most).
    prelaunch_page: np.ndarray
    special: dict[str, int] = field(default_factory=dict)
    online_banking: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    junk: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    app_screens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def paths(self) -> list[str]:
        return [page.path for page in self.pages]

    def index_of(self, path: str) -> int:
        return self._by_path[path]

    def __post_init__(self) -> None:
        self._by_path = {page.path: i for i, page in enumerate(self.pages)}


def build_catalog() -> Catalog:
    web = build_web_pages()
    app: list[Page] = [Page(APP_HOME[0], APP_HOME[1], "app_home"), Page(APP_SEARCH[0], APP_SEARCH[1], "app_search")]
    app += [Page(path, title, "app_screen", intents) for path, title, intents in APP_SCREENS]
    for product in PRODUCTS:
        app.append(Page(f"/app/offers/{product.product_id}", product.name, "app_offer", (), product.product_id))
        app.append(Page(f"/app/apply/{product.product_id}", f"Apply: {product.name}", "app_apply", (), product.product_id))
    junk = [Page(path, f"Page Not Found | {BANK}", "junk") for path in JUNK_PATHS]
    pages = web + app + junk
    by_path = {page.path: i for i, page in enumerate(pages)}
    if len(by_path) != len(pages):
        raise AssertionError("duplicate paths across web, app and junk pages")

    kind = np.array([KIND[page.kind] for page in pages], dtype=np.int8)
    product = np.array([PRODUCT_INDEX[page.product_id] if page.product_id else -1 for page in pages], dtype=np.int16)
    tags = np.zeros((len(pages), N_INTENTS), dtype=bool)
    for i, page in enumerate(pages):
        for intent in page.intents:
            tags[i, INTENT_INDEX[intent]] = True

    def per_product(kind_name: str) -> np.ndarray:
        found = np.full(len(PRODUCTS), -1, dtype=np.int64)
        for i, page in enumerate(pages):
            if page.kind == kind_name and page.product_id:
                found[PRODUCT_INDEX[page.product_id]] = i
        assert (found >= 0).all(), kind_name
        return found

    product_page = per_product("product")
    apply_page = per_product("apply")
    offer_screen = per_product("app_offer")
    app_apply_screen = per_product("app_apply")
    family_screen = np.array([by_path[FAMILY_SCREEN[p.family]] for p in PRODUCTS], dtype=np.int64)

    # Before launch the new card's pages show the card it supersedes.
    prelaunch = np.arange(len(pages), dtype=np.int64)
    new, old = LAUNCHED_PRODUCT, LAUNCH_REPLACEMENT
    for table in (product_page, apply_page, offer_screen, app_apply_screen):
        prelaunch[table[new]] = table[old]
    gated = product == new
    assert (prelaunch[gated] != np.flatnonzero(gated)).all(), "every page of the launched product needs a stand-in"

    special = {
        name: by_path[path]
        for name, path in {
            "home": "/",
            "search": "/search",
            "login": "/login",
            "app_home": APP_HOME[0],
            "app_search": APP_SEARCH[0],
        }.items()
    }
    return Catalog(
        pages=pages,
        n_web=len(web),
        kind=kind,
        product=product,
        intent_tags=tags,
        product_page=product_page,
        apply_page=apply_page,
        offer_screen=offer_screen,
        app_apply_screen=app_apply_screen,
        family_screen=family_screen,
        prelaunch_page=prelaunch,
        special=special,
        online_banking=np.flatnonzero(kind == KIND["online_banking"]),
        junk=np.flatnonzero(kind == KIND["junk"]),
        app_screens=np.flatnonzero(kind == KIND["app_screen"]),
    )
