/* Instruction counter from a CMSDK APB timer (mps2 boards): a 32-bit down counter clocked
 * by the board's system clock. ekd_counter_read() returns timer ticks; under QEMU's
 * -icount shift=0 one tick is 1e9/f instructions for a clock of f Hz (board.toml's
 * counter.instructions_per_tick), which the host applies. */
#include "ekd_board.h"

#ifndef EKD_TIMER_BASE
#error "board.toml must define EKD_TIMER_BASE, the timer's base address"
#endif

#define TIMER_CTRL (*(volatile uint32_t *)(EKD_TIMER_BASE + 0x0u))
#define TIMER_VALUE (*(volatile uint32_t *)(EKD_TIMER_BASE + 0x4u))
#define TIMER_RELOAD (*(volatile uint32_t *)(EKD_TIMER_BASE + 0x8u))

void ekd_counter_start(void)
{
    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 1u; /* enable, no interrupt, clocked by the system clock */
}

uint32_t ekd_counter_read(void)
{
    return 0xFFFFFFFFu - TIMER_VALUE;
}
