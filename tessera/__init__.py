"""Tessera: pre-silicon platform for the Tessera AI accelerator (model, emulator, firmware, host daemon)."""

__version__ = "0.1.0"
