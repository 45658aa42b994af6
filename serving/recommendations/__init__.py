"""The recommendation read path: the online store reader, candidate sources and the service
that composes ``GET /recommendations``."""
