"""The kinds under kinds/ are packages of their own: their tests run in a pytest of their own, never collected here."""

collect_ignore_glob = ["kinds/*"]
