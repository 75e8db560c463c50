"""The model zoo: one language model a file, from n-gram counts to InstructGPT
(installed as `minigrad_models.<name>`)."""
