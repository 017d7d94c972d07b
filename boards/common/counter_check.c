/*
 * Validates a board's instruction counter: times a loop of known length (2 instructions per
 * iteration) for several iteration counts and prints one line per count:
 *   ekd:count iterations=N ticks=T
 * The host checks that T, in instructions, grows by 2 per iteration within the counter's
 * resolution (tests/verify/test_boards.py).
 */
#include "ekd_board.h"

static const uint32_t iteration_counts[] = {1u, 1001u, 100001u, 1000001u};

/* Exactly two instructions per iteration: decrement, branch if not zero. n >= 1. */
static void spin(uint32_t n)
{
#if defined(__riscv)
    __asm volatile("1: addi %0, %0, -1\n\tbnez %0, 1b" : "+r"(n));
#else
    __asm volatile("1: subs %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#endif
}

int main(void)
{
    ekd_counter_start();
    for (size_t i = 0; i < sizeof iteration_counts / sizeof iteration_counts[0]; i++) {
        uint32_t start = ekd_counter_read();
        spin(iteration_counts[i]);
        uint32_t ticks = ekd_counter_read() - start;
        ekd_print("ekd:count iterations=");
        ekd_print_u32(iteration_counts[i]);
        ekd_print(" ticks=");
        ekd_print_u32(ticks);
        ekd_print("\n");
    }
    return EKD_EXIT_PASS;
}
