"""The LangGraph state machine: state schema, builder and routing, triggers, summarization, and
the Redis checkpointer."""
