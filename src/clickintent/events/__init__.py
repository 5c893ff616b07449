"""The event contract (raw schema) and the validating loader every source goes through."""

from clickintent.events.contract import RAW_TABLES, Column, Table
from clickintent.events.loader import ContractError, load_and_install, load_source_dir, replace_table_set

__all__ = ["RAW_TABLES", "Column", "Table", "ContractError", "replace_table_set", "load_and_install", "load_source_dir"]
