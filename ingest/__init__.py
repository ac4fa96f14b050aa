"""Ingest: payload schema and decoding, dead letters, MQTT client, per-user windows, the
runner loop, the MQTT->Kafka bridge and the Faust app."""
