"""The scheduling agent: proposes free call slots, confirms one with the lead, books it; and later
moves or cancels that call when the lead asks ("can we move it?").

- `agent`: its prompts and its turn (model and tools, at most `MAX_CALLS` calls).
- `tools`: the calendar tools and the rules they enforce (only offered slots are booked).
- `fallback`: the same turn without a model (numbered slots, confirm, book).

Rescheduling after the booking: a booked call hands the conversation to the sales team (handoff
`booked`, contact mode `call_booked`), yet the booking itself must stay manageable without a
person. The graph therefore routes a booked lead's requests to move or cancel the call here, also
in that mode, and only in it: any other handoff, or a person of the team writing to the lead,
keeps the bot silent (`graph.routing`). The change stays open across turns (offer, pick, confirm)
until the call is moved, cancelled or kept (`changing_booking` in the draft).

Times are shown in the lead's zone (their profile, from what they said, else their number's
country via `integrations.calendar.slots.lead_timezone`, else the business's), the zone named:
the tool output names it, and a reply that offers new times without naming it gets it appended.
"""
