/* Instruction counter from the SSE-300 System Counter (mps3-an547), a 64-bit up-counter
 * whose control frame (Secure) is at EKD_SSE_COUNTER_BASE. It is disabled at reset, which
 * is why the SSE-300 System Timers, which count it, read 0 until it is enabled.
 * ekd_counter_read() returns its low 32 bits in ticks; the host converts ticks to
 * instructions with board.toml's counter.instructions_per_tick. */
#include "ekd_board.h"

#ifndef EKD_SSE_COUNTER_BASE
#error "board.toml must define EKD_SSE_COUNTER_BASE, the counter's control frame"
#endif

#define CNTCR (*(volatile uint32_t *)(EKD_SSE_COUNTER_BASE + 0x00u))
#define CNTCV_LO (*(volatile uint32_t *)(EKD_SSE_COUNTER_BASE + 0x08u))
#define CNTCV_HI (*(volatile uint32_t *)(EKD_SSE_COUNTER_BASE + 0x0Cu))
#define CNTCR_EN 0x1u

void ekd_counter_start(void)
{
    CNTCR = 0u;
    CNTCV_LO = 0u;
    CNTCV_HI = 0u;
    CNTCR = CNTCR_EN;
}

uint32_t ekd_counter_read(void)
{
    return CNTCV_LO;
}
