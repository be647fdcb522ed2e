/* memserver: QEMU `virt` platform port: the ARM generic timer drives the kernel tick;
 * the platform has no outer (L2) cache to maintain. */
#include <config.h>
#include <types.h>
#include <arch/machine.h>
#include <mode/machine/timer.h>
#include <arch/linker.h>

void resetTimer(void)
{
    resetGenericTimer();
}

BOOT_CODE void initTimer(void)
{
    initGenericTimer();
}

void initL2Cache(void)
{
}

void plat_cleanL2Range(paddr_t start, paddr_t end) {}
void plat_invalidateL2Range(paddr_t start, paddr_t end) {}
void plat_cleanInvalidateL2Range(paddr_t start, paddr_t end) {}
void plat_cleanInvalidateCache(void) {}
