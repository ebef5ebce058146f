"""The conversation evaluation: scripted multi-turn conversations through the real graph, scored
against what a sales team expects (`make eval` prints the scorecard; `make test` runs the same
scenarios). Scenarios are data, one YAML file per language under `evals/scenarios/`."""
