/*
 * The services a board gives the verification harness: console output, exit status,
 * an instruction counter and the stack high-water mark. Each board.toml lists the files
 * under boards/common/ that implement them for that board.
 */
#ifndef EDGEKD_BOARD_H
#define EDGEKD_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses the host understands (edgekd/verify/qemu.py). */
#define EKD_EXIT_PASS 0
#define EKD_EXIT_FAIL 1
#define EKD_EXIT_FAULT 3

/* Writes n bytes to the host console (semihosting or UART). */
void ekd_board_write(const char *text, size_t n);

/* Ends the emulation with an exit status the emulator hands to the host. */
void ekd_board_exit(int status) __attribute__((noreturn));

/* Starts the instruction counter; call once before the first ekd_counter_read(). */
void ekd_counter_start(void);

/* Counter ticks since ekd_counter_start(). The host turns ticks into instructions with
 * board.toml's counter.instructions_per_tick (1 for an exact counter), so that nothing
 * but the read itself lies inside a timed interval. */
uint32_t ekd_counter_read(void);

/* Bytes of stack used so far (the painted stack's high-water mark) and the stack size. */
uint32_t ekd_stack_used(void);
uint32_t ekd_stack_size(void);

/* Startup paints the stack with this word; an overwritten word has been used. */
#define EKD_STACK_PAINT 0xA5A5A5A5u

/* Small console helpers built on ekd_board_write. */
void ekd_print(const char *text);
void ekd_print_u32(uint32_t value);
void ekd_print_hex_u32(uint32_t value); /* 0x%08x */
void ekd_print_hex_bytes(const void *data, size_t n);

#endif /* EDGEKD_BOARD_H */
