"""Services built on the hub's public API (HTTP, OAuth 2), never on its internals."""
