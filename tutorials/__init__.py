"""Numbered lessons (percent-format scripts): run one with `python tutorials/NN_name.py [--fast | --full]`
(default: the quick budget, minutes; --fast: a smoke test; --full: the budgets the README quotes)."""
