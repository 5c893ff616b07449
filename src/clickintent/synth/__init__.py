"""The synthetic financial-services world: products, a public site, visitors with latent intents,
web and app clickstreams, tile impressions, conversions, customer snapshots, and the ground truth.

    from clickintent.synth import generate_world
    summary = generate_world(settings, target_events=1_000_000)   # seed = settings.seed

What later stages can rely on (everything else is an implementation detail):

- Window: 2026-01-05 00:00 UTC to 2026-05-05 00:00 UTC (120 days), fixed, so output does not
  depend on today's date. Same seed and target -> identical tables.
- Ids: anonymous_id `a_<16 hex>` (web cookie per person, app device per customer, crawler and
  scanner ids), customer_id `c_<12 hex>`, event_id `e_<16 hex>`, conversion_id `cv_<16 hex>`,
  impression_id `imp_<16 hex>`, true_session_id `s_<16 hex>`: keyed hashes of seeded counters.
- Web paths are site sections (`/mortgages/...`, `/credit-cards/...`, `/learn/<slug>`,
  `/tools/<calculator>`, `/apply/<product slug>`, `/rates/...`, `/help/...`, `/security/...`,
  `/login`, `/search`, `/online-banking/...` after login, ...). App screens are
  `/app/<section>/<screen>` (`/app/home`, `/app/offers/<product_id>`, `/app/apply/<product_id>`).
  Product, rates, apply and offer pages carry product_id.
- Sessions: events of one true session are < 25 minutes apart; sessions of the same
  anonymous_id and platform are >= 45 minutes apart, so 30-minute inactivity sessionization
  recovers them exactly. About 0.5% of events are written out of time order.
- Login: the only web -> customer link. customer_id is null on web events before the login
  event of a session and set on the login event and every later event of that session. App
  events always carry customer_id.
- Referrer and utm_source are set only on the first event of a web session.
- Bots (flagged in ground truth only): crawlers make 30-300 page_views per visit with
  0-800 ms dwell and 0.1-1.9 s between requests, no referrer, device 'other' or 'desktop';
  scanners make single requests to paths that do not exist (/wp-admin, /.env, ...), titled
  "Page Not Found | Example Bank". Human sessions have median dwell of seconds and never
  exceed 30 events per minute (with duration floored at one minute).
- Ground truth under `<data dir>/ground_truth/` (visitor_intents, session_intents,
  event_sessions) is for evaluation only. Session primary_intent is the intent that drove the
  session, 'none' for casual browsing, 'bot' for bots; routine app visits count as
  account_servicing. visitor_intents.is_customer means a customer at window start;
  customer_id is set for anyone who is a customer at some point in the window.
"""

from clickintent.synth.world import World, WorldSummary, build_world, generate_world

__all__ = ["World", "WorldSummary", "build_world", "generate_world"]
