/* Console and exit on QEMU's RISC-V virt machine: the NS16550A UART (QEMU's -nographic
 * serial console) and the SiFive test finisher, which ends QEMU with an exit status
 * (returning from main or semihosting's exit does not). */
#include "ekd_board.h"

#ifndef EKD_UART_BASE
#error "board.toml must define EKD_UART_BASE"
#endif
#ifndef EKD_FINISHER_BASE
#error "board.toml must define EKD_FINISHER_BASE"
#endif

#define UART_THR (*(volatile uint8_t *)(EKD_UART_BASE + 0x0u))
#define UART_LSR (*(volatile uint8_t *)(EKD_UART_BASE + 0x5u))
#define UART_LSR_THR_EMPTY 0x20u
#define FINISHER (*(volatile uint32_t *)(EKD_FINISHER_BASE))
#define FINISHER_PASS 0x5555u
#define FINISHER_FAIL 0x3333u

void ekd_board_write(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while ((UART_LSR & UART_LSR_THR_EMPTY) == 0u) {
        }
        UART_THR = (uint8_t)text[i];
    }
}

void ekd_board_exit(int status)
{
    /* FAIL carries the exit status in the upper 16 bits. */
    FINISHER = status == 0 ? FINISHER_PASS : (((uint32_t)status << 16) | FINISHER_FAIL);
    for (;;) {
    }
}
