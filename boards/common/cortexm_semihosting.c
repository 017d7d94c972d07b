/* Console and exit through Arm semihosting (BKPT 0xAB), which QEMU serves when started with
 * -semihosting-config enable=on,target=native. */
#include "ekd_board.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihosting_call(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm("r0") = operation;
    register const void *r1 __asm("r1") = argument;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void ekd_board_write(const char *text, size_t n)
{
    /* SYS_WRITE0 takes a NUL-terminated string: copy through a small buffer. */
    char buffer[65];
    while (n > 0) {
        size_t chunk = n < sizeof buffer - 1 ? n : sizeof buffer - 1;
        for (size_t i = 0; i < chunk; i++) {
            buffer[i] = text[i];
        }
        buffer[chunk] = '\0';
        semihosting_call(SYS_WRITE0, buffer);
        text += chunk;
        n -= chunk;
    }
}

void ekd_board_exit(int status)
{
    /* SYS_EXIT_EXTENDED carries an exit status on 32-bit Arm (SYS_EXIT cannot). */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        semihosting_call(SYS_EXIT_EXTENDED, block);
    }
}
