"""Result records (one JSON per evaluated cell) and their provenance."""

from results.records import load_records, write_record

__all__ = ["load_records", "write_record"]
