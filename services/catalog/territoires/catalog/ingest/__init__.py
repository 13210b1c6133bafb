"""Bulk ingestion into the catalog: GeoTIFFs and STAC JSON → items (`loader.ingest`)."""
