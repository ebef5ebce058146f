"""The inbound message pipeline: dedup and per-contact burst buffering (webhook side), leased
bursts processed by workers (graph run, reply, ack)."""
