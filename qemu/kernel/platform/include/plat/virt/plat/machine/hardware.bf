-- memserver: QEMU `virt` platform port. No platform-specific bitfields.
base 32
