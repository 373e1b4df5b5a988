"""Names a lab may not use for itself, and Compose's implicit network."""

DEFAULT_NETWORK = "default"
RESERVED_SERVICES = ("host", "localhost")  # the host vantage / `host:P`, and `localhost:P` targets
RESERVED_NETWORK = "outside"  # `@outside` is looplab's own observer network
NEIGHBOUR_NETWORK = "neighbour"  # `@neighbour` is the LAN neighbour (`--lan`), not a network's observer
