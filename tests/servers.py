"""Real Mosquitto and InfluxDB as private processes for the tests.

The server classes live in gwmon.ingest.devservers (the demo uses them too). A missing
binary raises MissingServerBinary, which tests/conftest.py turns into a loud failure
naming the Debian package: these tests never skip what they claim to test.
"""

from gwmon.ingest.devservers import (
    LOOPBACK,
    InfluxDatabase,
    InfluxServer,
    MosquittoServer,
    free_port,
    mosquitto_password_file,
)

__all__ = [
    "LOOPBACK",
    "InfluxDatabase",
    "InfluxServer",
    "MosquittoServer",
    "free_port",
    "mosquitto_password_file",
]
