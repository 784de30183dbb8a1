"""bayesgate: an OpenAI-compatible gateway that learns which model to use from its own traffic."""

__version__ = "0.1.0"
