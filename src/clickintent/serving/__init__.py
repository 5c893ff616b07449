"""Serving: the computation behind the BentoML service (serving/service.py), apart from BentoML.

- `recommender`: `Recommender.load(settings)` once per worker; `recommend`, `intent`, `embed`
- `session`: a live session through the encoder and the distilled intent classifier
- `online`: the Feast online store (customer reads, product catalogue, login pushes)
- `login`: the rows a web session that logs in pushes to the customer's linked-web views
- `artifacts`: model cards checked at start-up (a missing or unfit model stops the start)
- `bento_models`: model folders as class-level BentoML model references (`bentoml build`)
- `http`: the body-size limit and field errors shared by the service and its floor
- `threads`: one OpenMP/BLAS/torch/XGBoost thread per worker (imported before numpy)
- `process`: start a served process on a free loopback port, wait until ready, stop it

Nothing here is imported by `import clickintent.serving`: each module loads what it needs.
"""
