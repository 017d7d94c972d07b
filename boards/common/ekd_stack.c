/* Stack high-water mark: the reset handler (assembly, before any C runs) fills the stack
 * below its stack pointer with EKD_STACK_PAINT; the lowest word that no longer holds it is
 * the deepest the stack has reached. The linker script defines
 * the stack region [__ekd_stack_limit, __ekd_stack_top). */
#include "ekd_board.h"

extern uint32_t __ekd_stack_limit[];
extern uint32_t __ekd_stack_top[];

uint32_t ekd_stack_size(void)
{
    return (uint32_t)((uintptr_t)__ekd_stack_top - (uintptr_t)__ekd_stack_limit);
}

uint32_t ekd_stack_used(void)
{
    const uint32_t *word = __ekd_stack_limit;
    while (word < __ekd_stack_top && *word == EKD_STACK_PAINT) {
        word++;
    }
    /* A used bottom word means the stack reached (or overran) its limit: report the full
     * size and let the host call it an overflow. */
    return (uint32_t)((uintptr_t)__ekd_stack_top - (uintptr_t)word);
}
