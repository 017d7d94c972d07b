/* RISC-V startup in C: copy .data, zero .bss, run main(), and report traps (cause, faulting
 * PC, return address and mtval) with exit status EKD_EXIT_FAULT. */
#include "ekd_board.h"

extern uint32_t __ekd_data_start[], __ekd_data_end[], __ekd_data_load[];
extern uint32_t __ekd_bss_start[], __ekd_bss_end[];
extern uint32_t __ekd_stack_limit[];

int main(void);
void ekd_start_c(void) __attribute__((noreturn));
void ekd_trap_report(uint32_t mcause, uint32_t mepc, uint32_t mtval, uint32_t ra,
                     uint32_t sp) __attribute__((noreturn));

void ekd_start_c(void)
{
    for (uint32_t *src = __ekd_data_load, *dst = __ekd_data_start; dst < __ekd_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __ekd_bss_start; dst < __ekd_bss_end;) {
        *dst++ = 0u;
    }
    ekd_board_exit(main());
}

static const char *trap_name(uint32_t mcause)
{
    if (mcause & 0x80000000u) {
        return "Interrupt";
    }
    switch (mcause) {
    case 0: return "InstructionAddressMisaligned";
    case 1: return "InstructionAccessFault";
    case 2: return "IllegalInstruction";
    case 3: return "Breakpoint";
    case 4: return "LoadAddressMisaligned";
    case 5: return "LoadAccessFault";
    case 6: return "StoreAddressMisaligned";
    case 7: return "StoreAccessFault";
    case 11: return "EnvironmentCallFromM";
    default: return "Exception";
    }
}

/* ra and sp: the registers when the trap hit; after a call through a bad pointer ra names
 * the caller. A trap with sp below the stack's limit is reported as a stack overflow. */
void ekd_trap_report(uint32_t mcause, uint32_t mepc, uint32_t mtval, uint32_t ra, uint32_t sp)
{
    if (sp < (uint32_t)(uintptr_t)__ekd_stack_limit) {
        ekd_print("\nekd:fault StackOverflow sp=");
        ekd_print_hex_u32(sp);
        ekd_print(" limit=");
        ekd_print_hex_u32((uint32_t)(uintptr_t)__ekd_stack_limit);
        ekd_print(" exception=");
        ekd_print(trap_name(mcause));
        ekd_print("\n");
        ekd_board_exit(EKD_EXIT_FAULT);
    }
    ekd_print("\nekd:fault ");
    ekd_print(trap_name(mcause));
    ekd_print(" pc=");
    ekd_print_hex_u32(mepc);
    ekd_print(" ra=");
    ekd_print_hex_u32(ra);
    ekd_print(" mcause=");
    ekd_print_hex_u32(mcause);
    ekd_print(" mtval=");
    ekd_print_hex_u32(mtval);
    ekd_print("\n");
    ekd_board_exit(EKD_EXIT_FAULT);
}
