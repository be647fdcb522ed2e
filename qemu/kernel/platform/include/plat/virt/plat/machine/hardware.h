/* memserver: QEMU `virt` platform port: RAM (from 0x40000000 to CONFIG_MEMSERVER_RAM_END, which
 * xtask writes into autoconf.h from the system description), the devices the kernel
 * maps for itself, the device regions handed to user level, and the generic timer frequency
 * QEMU 7.2 reports for cortex-a53 (62.5 MHz). */
#ifndef __PLAT_MACHINE_HARDWARE_H
#define __PLAT_MACHINE_HARDWARE_H

#include <config.h>
#include <basic_types.h>
#include <arch/linker.h>
#include <plat/machine.h>
#include <plat/machine/devices.h>
#include <plat_mode/machine/hardware.h>

#define TIMER_CLOCK_HZ 62500000llu

#define physBase 0x40000000

static const kernel_frame_t BOOT_RODATA kernel_devices[] = {
    { GIC_CONTROLLER0_PADDR, GIC_CONTROLLER_PPTR, true },
    { GIC_DISTRIBUTOR_PADDR, GIC_DISTRIBUTOR_PPTR, true },
#ifdef CONFIG_PRINTING
    { UART0_PADDR, UART0_PPTR, true },
#endif
};

#ifndef CONFIG_MEMSERVER_RAM_END
#error "CONFIG_MEMSERVER_RAM_END (end of RAM) comes from the system description: build through cargo xtask"
#endif

/* RAM given to the kernel (all memory nodes, consecutive); regions must not be adjacent. */
static const p_region_t BOOT_RODATA avail_p_regs[] = {
    { .start = physBase, .end = CONFIG_MEMSERVER_RAM_END }
};

static const p_region_t BOOT_RODATA dev_p_regs[] = {
    { .start = UART0_PADDR, .end = UART0_PADDR + (1 << PAGE_BITS) },
    { .start = RTC0_PADDR, .end = RTC0_PADDR + (1 << PAGE_BITS) },
    { .start = GPIO0_PADDR, .end = GPIO0_PADDR + (1 << PAGE_BITS) },
    { .start = VIRTIO_MMIO_PADDR, .end = VIRTIO_MMIO_PADDR + VIRTIO_MMIO_SIZE },
};

static inline void handleReservedIRQ(irq_t irq)
{
}

#endif
