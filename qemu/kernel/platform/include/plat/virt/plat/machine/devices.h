/* memserver: QEMU `virt` platform port: physical addresses of the devices of
 * `qemu-system-aarch64 -machine virt,gic-version=2` (QEMU 7.2 memory map). */
#ifndef __PLAT_MACHINE_DEVICES_H
#define __PLAT_MACHINE_DEVICES_H

#include <plat_mode/machine/devices.h>

#define GIC_PL390_CONTROLLER_PPTR  GIC_CONTROLLER_PPTR
#define GIC_PL390_DISTRIBUTOR_PPTR GIC_DISTRIBUTOR_PPTR

#define GIC_DISTRIBUTOR_PADDR 0x08000000
#define GIC_CONTROLLER0_PADDR 0x08010000
#define UART0_PADDR           0x09000000
#define RTC0_PADDR            0x09010000
#define GPIO0_PADDR           0x09030000
#define VIRTIO_MMIO_PADDR     0x0a000000
#define VIRTIO_MMIO_SIZE      0x00004000

#endif
