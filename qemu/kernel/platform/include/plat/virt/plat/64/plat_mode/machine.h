/* memserver: QEMU `virt` platform port: the IRQ CNode holds one 32-byte slot per interrupt. */
#ifndef __PLAT_MODE_MACHINE_H
#define __PLAT_MODE_MACHINE_H

#define IRQ_CNODE_BITS 14

#endif
