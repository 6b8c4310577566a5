"""The front door: the `cellbridge` command and the demo."""
