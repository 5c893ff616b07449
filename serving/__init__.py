"""The BentoML service of clickintent (service.py), its request/response models (schemas.py) and
the empty-service floor the benchmark compares it with (floor_service.py). A package so that
`serving.service:ClickIntent` imports the same way from the checkout and from a built Bento."""
