"""Tessera emulator: an RV32IMC control core (Unicorn, or hosted Python firmware) wired to the SoC devices and the accelerator model.

Usage:
    from emulator.session import Session
    with Session(firmware="build/fw.elf") as s:
        info = s.run(max_cycles=10_000_000)
"""
