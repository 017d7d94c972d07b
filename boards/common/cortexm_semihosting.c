/* Console and exit through Arm semihosting (BKPT 0xAB), which QEMU serves when started with
 * -semihosting-config enable=on,target=native.
 *
 * The console goes to a file, EKD_CONSOLE_FILE in QEMU's working directory, which the
 * host reads after QEMU exits: a plain write() to a regular file, where QEMU's console
 * output to a pipe could lose its last records on a busy machine. Where the file cannot
 * be opened, the console is semihosting's own (SYS_WRITE0). */
#include "ekd_board.h"

#define EKD_CONSOLE_FILE "ekd_console.txt"

#define SYS_OPEN 0x01u
#define SYS_WRITE 0x05u
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

#define SYS_OPEN_MODE_W 4u /* fopen's "w" */
#define CONSOLE_UNOPENED (-2)

static int32_t console_file = CONSOLE_UNOPENED;

/* The console file's handle, opened on first use; -1 when it cannot be. */
static int32_t console_handle(void)
{
    if (console_file == CONSOLE_UNOPENED) {
        static const char name[] = EKD_CONSOLE_FILE;
        const uint32_t block[3] = {(uint32_t)(uintptr_t)name, SYS_OPEN_MODE_W,
                                   (uint32_t)(sizeof name - 1u)};
        console_file = (int32_t)semihosting_call(SYS_OPEN, block);
    }
    return console_file;
}

void ekd_board_write(const char *text, size_t n)
{
    const int32_t file = console_handle();
    /* SYS_WRITE0 takes a NUL-terminated string: copy through a small buffer. */
    char buffer[65];
    while (file >= 0 && n > 0) {
        const uint32_t block[3] = {(uint32_t)file, (uint32_t)(uintptr_t)text, (uint32_t)n};
        const uint32_t left = semihosting_call(SYS_WRITE, block); /* bytes not written */
        if (left >= n) {
            break; /* no progress: say it on the console below */
        }
        text += n - left;
        n = left;
    }
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
