"""The online store (Redis): one home for what writers and readers share.

- ``keys``: every key pattern, TTL and cap;
- ``codec``: every value's encoding and decoding (item hashes, scored lists, sorted-set
  replies, user features, session views), used by the publisher (``pipelines.publish``), the
  features consumer (``pipelines.streaming.features`` and its Lua script) and the reader
  (``serving.recommendations.reader``).

Like the rest of ``shopflow`` it imports nothing of the other packages.
"""
