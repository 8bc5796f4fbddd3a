"""Imports every method's table definitions (``results/tables/<method>.py``) so they register."""
import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
