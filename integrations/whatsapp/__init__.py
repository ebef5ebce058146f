"""WhatsApp channels: Twilio and the Meta Cloud API, parsed into one inbound message type."""
