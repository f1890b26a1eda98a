"""Mosquitto running examples/mosquitto.conf and examples/mosquitto.acl as shipped (paths
and ports moved to a temp dir): the broker of the deployment, security and fault tests."""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

import trustme

from gwmon.ingest.devservers import MosquittoServer, free_port, mosquitto_password_file
from ingest_helpers import REPO_ROOT


class ShippedMosquitto(MosquittoServer):
    """Mosquitto running examples/mosquitto.conf and examples/mosquitto.acl as shipped;
    only file paths and ports are moved to a temp dir. `port` is the plain loopback
    listener, `tls_port` the TLS listener (certificate from a test CA, `ca_file`)."""

    def __init__(
        self,
        workdir: Path,
        credentials: dict[str, str],
        *,
        overrides: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        # Shipped line -> replacement, for fault tests that shorten e.g. autosave_interval.
        self.overrides = dict(overrides or {})
        self.tls_port = free_port()
        self.passwd = mosquitto_password_file(workdir / "gwmon.passwd", credentials)
        self.acl = workdir / "gwmon.acl"
        shutil.copy(REPO_ROOT / "examples" / "mosquitto.acl", self.acl)
        ca = trustme.CA()
        server_cert = ca.issue_cert("127.0.0.1", "localhost")
        server_cert.private_key_and_cert_chain_pem.write_to_path(str(workdir / "broker.pem"))
        server_cert.private_key_pem.write_to_path(str(workdir / "broker.key"))
        self.ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        (workdir / "store").mkdir()

    @property
    def persistence_file(self) -> Path:
        return self.workdir / "store" / "mosquitto.db"

    def kill(self) -> None:
        """SIGKILL: no goodbye, no save of the persistence file."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def write_config(self) -> Path:
        text = (REPO_ROOT / "examples" / "mosquitto.conf").read_text()
        moved = {
            "persistence_location /var/lib/mosquitto/": f"persistence_location {self.workdir}/store/",
            "password_file /etc/mosquitto/gwmon.passwd": f"password_file {self.passwd}",
            "acl_file /etc/mosquitto/gwmon.acl": f"acl_file {self.acl}",
            "listener 8883\n": f"listener {self.tls_port} 127.0.0.1\n",
            "certfile /etc/mosquitto/certs/broker.pem": f"certfile {self.workdir}/broker.pem",
            "keyfile /etc/mosquitto/certs/broker.key": f"keyfile {self.workdir}/broker.key",
            "listener 1883 127.0.0.1\n": f"listener {self.port} 127.0.0.1\n",
        }
        for shipped, here in {**moved, **self.overrides}.items():
            assert shipped in text, f"examples/mosquitto.conf no longer has {shipped!r}"
            text = text.replace(shipped, here)
        # As root, Mosquitto would switch to the `mosquitto` user (see devservers).
        text += f"\nuser {getpass.getuser()}\n"
        config = self.workdir / "mosquitto.conf"
        config.write_text(text)
        return config
