/* memserver: QEMU `virt` platform port: interrupt numbering of the GICv2 QEMU provides
 * (16 SGIs, 16 PPIs, 256 SPIs) and the kernel's timer interrupt (virtual timer PPI 27). */
#ifndef __PLAT_MACHINE_H
#define __PLAT_MACHINE_H

#include <plat_mode/machine.h>

#define N_INTERRUPTS 288

enum IRQConstants {
    INTERRUPT_VIRT_TIMER = 27,
    INTERRUPT_HYP_TIMER = 26,
    INTERRUPT_PHYS_TIMER_S = 29,
    INTERRUPT_PHYS_TIMER_NS = 30,
    INTERRUPT_SPI_BASE = 32,
    INTERRUPT_UART0 = INTERRUPT_SPI_BASE + 1,
    INTERRUPT_RTC0 = INTERRUPT_SPI_BASE + 2,
    INTERRUPT_VIRTIO_MMIO0 = INTERRUPT_SPI_BASE + 16,
    maxIRQ = N_INTERRUPTS - 1
} platform_interrupt_t;

#define KERNEL_TIMER_IRQ INTERRUPT_VIRT_TIMER

#include <arch/machine/gic_pl390.h>

#endif
