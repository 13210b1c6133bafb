"""The S3 settings as GDAL and boto3 read them: one endpoint, region and addressing style."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from territoires.shared.settings import ConfigurationError, Settings
from territoires.shared.storage import gdal_s3_options, path_style, storage_from_settings


@pytest.fixture(autouse=True)
def no_store_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def test_an_endpoint_means_path_style_over_its_scheme() -> None:
    settings = Settings(
        storage_url="s3://results/prefix",
        s3_endpoint_url="https://store.example.org:9000/",
        TERRITOIRES_S3_REGION="eu-west-3",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    assert settings.s3_endpoint_url == "https://store.example.org:9000"
    assert gdal_s3_options(settings) == {
        "AWS_REGION": "eu-west-3",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_S3_ENDPOINT": "store.example.org:9000",
        "AWS_HTTPS": "YES",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }


def test_aws_s3_is_virtual_hosted_unless_told() -> None:
    settings = Settings(storage_url="s3://results")
    assert not path_style(settings)
    assert gdal_s3_options(settings) == {"AWS_REGION": "us-east-1", "AWS_VIRTUAL_HOSTING": "TRUE"}
    assert path_style(settings.model_copy(update={"s3_path_style": True}))


@pytest.mark.parametrize("endpoint", ["ftp://store", "store:9000", "http://store/bucket"])
def test_an_endpoint_is_an_http_origin(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="s3_endpoint_url"):
        Settings(s3_endpoint_url=endpoint)


@pytest.mark.parametrize("url", ["gs://bucket/x", "s3:///no-bucket"])
def test_other_storage_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="TERRITOIRES_STORAGE_URL"):
        storage_from_settings(Settings(storage_url=url))
