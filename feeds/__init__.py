"""Feed adapters: fetch operational data, check it, and write samples to the store.

A feed knows nothing of levels or pages. Add a feed by writing one class that satisfies
``feeds.base.Feed`` and registering it in ``feeds.registry``.
"""
