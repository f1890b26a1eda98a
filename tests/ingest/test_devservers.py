"""A missing server binary fails loudly, naming the Debian package."""

from __future__ import annotations

import pytest

from gwmon.ingest.devservers import MissingServerBinary, require_binary


def test_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingServerBinary) as caught:
        require_binary("gwmon-no-such-server", "gwmon-no-such-package")
    assert "apt-get install gwmon-no-such-package" in str(caught.value)
