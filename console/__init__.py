"""The manager's console under `/console`: sign-in, the inbox with live takeover, one
conversation and its actions, the funnel, the team's people. Server-rendered (Jinja2), a little
hand-written JavaScript, no build step. It sits beside `api/` at the top of the house and reaches
the floors below only through their public functions (`pipeline.actions`, the lead store's
queries)."""
