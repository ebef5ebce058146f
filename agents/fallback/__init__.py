"""The deterministic fallback policy (`policy`) and its readers of the lead's answers (`parsers`):
what keeps the conversation going without a model."""
