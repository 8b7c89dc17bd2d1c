"""Federation (issue #17): context source registrations and their subscriptions
(``registration.py``, ``csource_subscriptions.py``; routes in ``hub/api/csources.py``,
SQL in ``hub/store/csources.py``) and the distributed operations that forward queries and
writes to the registered sources (``forward*.py`` and their helpers)."""
