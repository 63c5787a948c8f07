"""The HIL suite's fixtures come from the plugin tessera/hil/plugin.py (options --hil-target, --hil-firmware, ...).

The plugin is imported here rather than named in `pytest_plugins`: pytest refuses
`pytest_plugins` in a conftest below the rootdir, and `make test` runs
`pytest tests`. Its command-line options therefore exist when tests/hil (or a
file in it) is named on the command line; under `pytest tests` the target comes
from $TESSERA_HIL_TARGET (default emu:edge-v1).

Usage: pytest tests/hil [--hil-target=emu:tiny | --hil-target=serial:/dev/ttyUSB0] [-n 2]
"""

from tessera.hil.plugin import *  # noqa: F401,F403  (hooks and fixtures)
from tessera.hil.plugin import (pytest_addoption, pytest_collection_modifyitems, pytest_configure,  # noqa: F401
                                pytest_runtest_logreport, pytest_runtest_makereport, pytest_runtest_setup,
                                pytest_terminal_summary)
