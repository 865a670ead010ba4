"""Shared by every test folder: this folder on ``sys.path`` (for ``paths`` and ``htmlrefs``)."""
