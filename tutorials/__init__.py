"""The lessons and the `minigrad` command that runs them (installed as `minigrad_tutorials`). Run one lesson with
`python tutorials/NN_name.py [--fast | --full]` (default: the quick budget, minutes; --fast: a smoke test; --full:
the budgets the README quotes), or all of them with `minigrad tour`."""
