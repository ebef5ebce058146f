"""The domain types every layer speaks in: the lead, its events, stages, bookings, the contact.

The ground floor of the house: these modules import nothing of the app (`core` included), so
integrations, agents, the graph and the pipeline can all depend on them and never on each other's
internals. `domain.texts` holds every fixed text a lead reads, one file per language.
"""
