# src/acme_wordcount/__init__.py
"""acme-wordcount: a runtime-registry plugin providing the ``wordcount`` runtime kind."""
