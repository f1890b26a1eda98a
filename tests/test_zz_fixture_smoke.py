def test_servers(influx_db, mosquitto):
    assert influx_db.query("SHOW MEASUREMENTS") == []
    assert mosquitto.port > 0
