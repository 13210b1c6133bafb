"""The STAC API of the catalog: stac-fastapi on our SQLAlchemy/GeoAlchemy2 backend."""
