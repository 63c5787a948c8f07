"""Hardware-in-the-loop support: launching sessions (launch.py), workloads (workloads.py), the pytest plugin (plugin.py).

Usage:
    pytest tests/hil --hil-target=emu:tiny            # or --hil-target=serial:/dev/ttyUSB0
"""
