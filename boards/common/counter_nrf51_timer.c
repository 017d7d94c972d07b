/* Instruction counter from nRF51 TIMER0 (micro:bit) in 32-bit timer mode at 16 MHz
 * (prescaler 0). A count is read by triggering a capture into CC[0]. The host converts
 * ticks to instructions with board.toml's counter.instructions_per_tick (62.5). */
#include "ekd_board.h"

#ifndef EKD_TIMER_BASE
#error "board.toml must define EKD_TIMER_BASE, the timer's base address"
#endif

#define REG(offset) (*(volatile uint32_t *)(EKD_TIMER_BASE + (offset)))
#define TASKS_START REG(0x000u)
#define TASKS_STOP REG(0x004u)
#define TASKS_CLEAR REG(0x00Cu)
#define TASKS_CAPTURE0 REG(0x040u)
#define MODE REG(0x504u)
#define BITMODE REG(0x508u)
#define PRESCALER REG(0x510u)
#define CC0 REG(0x540u)

void ekd_counter_start(void)
{
    TASKS_STOP = 1u;
    MODE = 0u;      /* timer, not counter */
    BITMODE = 3u;   /* 32 bit */
    PRESCALER = 0u; /* 16 MHz */
    TASKS_CLEAR = 1u;
    TASKS_START = 1u;
}

uint32_t ekd_counter_read(void)
{
    TASKS_CAPTURE0 = 1u;
    return CC0;
}
