/* Instruction counter from a RISC-V machine counter CSR (EKD_RISCV_COUNTER_CSR: minstret
 * or mcycle). Under QEMU's -icount both return the instruction count, so one tick is one
 * instruction. Only the low 32 bits are read: intervals are differences modulo 2^32, and
 * an inference stays far below 2^32 instructions. */
#include "ekd_board.h"

#ifndef EKD_RISCV_COUNTER_CSR
#error "board.toml must define EKD_RISCV_COUNTER_CSR (minstret or mcycle)"
#endif

#define STRINGIFY(x) #x
#define CSR_NAME(csr) STRINGIFY(csr)

static uint32_t start_value;

static inline uint32_t read_counter_csr(void)
{
    uint32_t value;
    __asm volatile("csrr %0, " CSR_NAME(EKD_RISCV_COUNTER_CSR) : "=r"(value));
    return value;
}

void ekd_counter_start(void)
{
    start_value = read_counter_csr();
}

uint32_t ekd_counter_read(void)
{
    return read_counter_csr() - start_value;
}
