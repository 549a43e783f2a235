# tests/conftest.py
import pytest

from acme_wordcount import plugin


@pytest.fixture
def kind_plugin():
    return plugin
