"""The agents: one per stage, each pure with respect to I/O (the model and the calendar are passed
in), each answering a turn with a `Draft` the graph then rules on.

- `greeting`, `qualification`, `follow_up`: one model call each (`single_call.SingleCallAgent`),
  differing only in prompt and output; `scheduling`: model and calendar tools.
- What they share: `inputs` (what an agent sees of a turn), `draft` (what it proposes),
  `output` (its structured answer), `prompts` (how a prompt is built), `extraction` (how reported
  facts enter the lead profile), `model_call` (the one structured call), `intents` (keyword nets
  for a request for a person or a booking change), `fallback` (the policy without a model).

Agents never decide stages, qualification or handoffs: `graph.rules` does, from their draft.
"""
