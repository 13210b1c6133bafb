"""STAC documents as rows of the catalog tables: what the catalog serves and compute writes."""
