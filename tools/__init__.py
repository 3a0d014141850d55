"""Course-building tools: clean notebooks, student copies, slide decks, the rendered site.

Not part of the ``flowerkit`` package students import: they run from the
repository (``python -m tools.strip``, ``python -m tools.student``,
``python -m tools.site``; the ``make`` targets call them) and need the
``tools`` extra of ``pyproject.toml`` (nbformat, nbconvert, nbclient, IPython).
Layers: :mod:`tools.cells` at the bottom, then :mod:`tools.strip` and
:mod:`tools.student`, then :mod:`tools.site`.
"""
