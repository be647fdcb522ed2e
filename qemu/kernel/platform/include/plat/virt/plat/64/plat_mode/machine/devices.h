/* memserver: QEMU `virt` platform port: kernel virtual addresses of the devices the kernel maps. */
#ifndef __PLAT_MODE_MACHINE_DEVICES_H
#define __PLAT_MODE_MACHINE_DEVICES_H

#define UART0_PPTR           0xffffffffffff0000
#define GIC_DISTRIBUTOR_PPTR 0xffffffffffff3000
#define GIC_CONTROLLER_PPTR  0xffffffffffff4000

#endif
