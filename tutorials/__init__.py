"""Numbered lessons (percent-format scripts): run one with `python tutorials/NN_name.py [--fast]`."""
