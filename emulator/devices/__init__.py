"""SoC devices of the emulated machine besides the accelerator: UART, TIMER, INTC, WDT, SYSCTL."""
