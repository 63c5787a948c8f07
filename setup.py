"""Build hook: compiles the native tensor core and the emulator's instruction counter with cffi (API mode) at install time.

Everything else about the distribution is in pyproject.toml.
"""

from setuptools import setup

setup(cffi_modules=["native/build_tensorcore.py:ffibuilder", "emulator/build_icount.py:ffibuilder"])
