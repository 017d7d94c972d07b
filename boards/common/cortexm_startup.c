/*
 * Cortex-M startup for every Arm board: the vector table, a reset handler that paints the
 * stack, copies .data, zeroes .bss, enables the FPU/MVE when the code was built for one
 * and calls main(), and one handler for every other exception that reports the exception,
 * the stacked PC and LR (and the fault status registers on Armv7-M and later), or a stack
 * overflow when the core had to stack the frame below the stack's limit, and exits with
 * EKD_EXIT_FAULT.
 */
#include "ekd_board.h"

extern uint32_t __ekd_stack_limit[], __ekd_stack_top[];
extern uint32_t __ekd_data_start[], __ekd_data_end[], __ekd_data_load[];
extern uint32_t __ekd_bss_start[], __ekd_bss_end[];

int main(void);
void ekd_reset_handler(void);
void ekd_exception_handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

/* The 16 architectural entries; no interrupt is ever enabled, so no IRQ vectors. */
__attribute__((section(".vectors"), used))
static void (*const vector_table[16])(void) = {
    (void (*)(void))__ekd_stack_top,
    ekd_reset_handler,
    ekd_exception_handler, ekd_exception_handler, ekd_exception_handler,
    ekd_exception_handler, ekd_exception_handler, ekd_exception_handler,
    ekd_exception_handler, ekd_exception_handler, ekd_exception_handler,
    ekd_exception_handler, ekd_exception_handler, ekd_exception_handler,
    ekd_exception_handler, ekd_exception_handler,
};

/* Runs after the stack is painted: plain C from here on. */
__attribute__((noreturn, used)) static void start_c(void)
{
    for (uint32_t *src = __ekd_data_load, *dst = __ekd_data_start; dst < __ekd_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __ekd_bss_start; dst < __ekd_bss_end;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to CP10/CP11 (FPU and MVE); without it the first VFP/MVE
     * instruction is a UsageFault (NOCP). */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    ekd_board_exit(main());
}

/* Paints [__ekd_stack_limit, sp) with EKD_STACK_PAINT before anything uses the stack;
 * Thumb-1 instructions only, so that it runs on Armv6-M too. */
__attribute__((naked, noreturn)) void ekd_reset_handler(void)
{
    __asm volatile(
        "ldr r0, =__ekd_stack_limit\n\t"
        "mov r1, sp\n\t"
        "ldr r2, =0xA5A5A5A5\n\t"
        "1:\n\t"
        "cmp r0, r1\n\t"
        "bhs 2f\n\t"
        "str r2, [r0]\n\t"
        "adds r0, #4\n\t"
        "b 1b\n\t"
        "2:\n\t"
        "bl start_c\n\t"
        ".ltorg");
}

static const char *exception_name(uint32_t number)
{
    switch (number) {
    case 2: return "NMI";
    case 3: return "HardFault";
    case 4: return "MemManage";
    case 5: return "BusFault";
    case 6: return "UsageFault";
    case 7: return "SecureFault";
    case 11: return "SVCall";
    case 12: return "DebugMonitor";
    case 14: return "PendSV";
    case 15: return "SysTick";
    default: return "IRQ";
    }
}

/* frame: the registers the core stacked on exception entry: r0-r3, r12, lr, pc, xpsr.
 * Runs on a fresh stack (see ekd_exception_handler), so it works after a stack overflow;
 * needs well under 512 bytes of it. */
__attribute__((noreturn, used)) static void report_exception(const uint32_t *frame)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    if (frame < __ekd_stack_limit || frame + 8 > __ekd_stack_top) {
        /* The core stacked the frame outside the stack: it ran over its limit. */
        ekd_print("\nekd:fault StackOverflow sp=");
        ekd_print_hex_u32((uint32_t)(uintptr_t)frame);
        ekd_print(" limit=");
        ekd_print_hex_u32((uint32_t)(uintptr_t)__ekd_stack_limit);
        ekd_print(" exception=");
        ekd_print(exception_name(ipsr & 0x1FFu));
        ekd_print("\n");
        ekd_board_exit(EKD_EXIT_FAULT);
    }
    ekd_print("\nekd:fault ");
    ekd_print(exception_name(ipsr & 0x1FFu));
    ekd_print(" pc=");
    ekd_print_hex_u32(frame[6]);
    ekd_print(" lr=");
    ekd_print_hex_u32(frame[5]);
#if !defined(__ARM_ARCH_6M__)
    /* Armv6-M has no configurable fault status registers. */
    ekd_print(" cfsr=");
    ekd_print_hex_u32(SCB_CFSR);
    ekd_print(" hfsr=");
    ekd_print_hex_u32(SCB_HFSR);
    ekd_print(" bfar=");
    ekd_print_hex_u32(SCB_BFAR);
#endif
    ekd_print("\n");
    ekd_board_exit(EKD_EXIT_FAULT);
}

/* Finds the stacked frame on whichever stack was active (EXC_RETURN bit 2) and reports it
 * on a fresh stack: the firmware exits after the report, and the old stack may be what
 * overflowed. The fresh stack must not overwrite the frame: it grows down from 512 bytes
 * above the stack's limit when the frame lies higher, else from the stack's top. */
__attribute__((naked, noreturn)) void ekd_exception_handler(void)
{
    __asm volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b 2f\n\t"
        "1:\n\t"
        "mrs r0, msp\n\t"
        "2:\n\t"
        "ldr r1, =__ekd_stack_limit + 512\n\t"
        "cmp r0, r1\n\t"
        "bhs 3f\n\t"
        "ldr r1, =__ekd_stack_top\n\t"
        "3:\n\t"
        "mov sp, r1\n\t"
        "ldr r1, =report_exception\n\t"
        "bx r1\n\t"
        ".ltorg");
}
