"""Features: the dbt project that turns raw events into feature marts, and the Feast repository over them."""
