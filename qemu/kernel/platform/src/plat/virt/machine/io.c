/* memserver: QEMU `virt` platform port: the debug console is the PL011 UART; QEMU's model needs
 * no initialisation and never has a full transmit FIFO, but we honour the flag anyway. */
#include <config.h>
#include <stdint.h>
#include <util.h>
#include <machine/io.h>
#include <plat/machine/devices.h>

#define PL011_DR      0x000
#define PL011_FR      0x018
#define PL011_FR_TXFF (1 << 5)

#define PL011_REG(off) ((volatile uint32_t *)(UART0_PPTR + (off)))

#if defined(CONFIG_DEBUG_BUILD) || defined(CONFIG_PRINTING)
void putDebugChar(unsigned char c)
{
    while ((*PL011_REG(PL011_FR) & PL011_FR_TXFF) != 0);
    *PL011_REG(PL011_DR) = c;
}
#endif

#ifdef CONFIG_DEBUG_BUILD
unsigned char getDebugChar(void)
{
    return 0;
}
#endif
