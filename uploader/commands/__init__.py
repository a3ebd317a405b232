"""The click-free core of each command, one seam each (``upload``, lookups, ``limits``,
``demo``, ``sandbox``, ``auth``), and :class:`~uploader.commands.runtime.Runtime`, the outside
world they are given. Imports nothing eagerly."""
