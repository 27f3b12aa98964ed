"""Interaction data and the raw ids behind it.

- :class:`Interactions` (``interactions.py``): a users x items CSR matrix with raw-id maps, built
  from pandas, arrays, CSV (``delimited.py``), Parquet or SQL (``sql.py``);
- :class:`IdMap` (``idmap.py``): raw ids <-> dense indices, shared by data, models, CLI and service;
- :func:`read_ratings` (``sniff.py``): a ratings file of any common format, columns guessed.
"""

from .idmap import IdMap
from .interactions import Interactions
from .sniff import RatingsFile, read_ratings

__all__ = ["IdMap", "Interactions", "RatingsFile", "read_ratings"]
