/*
 * RISC-V (RV32, machine mode) startup: set the stack, install the trap vector, paint the
 * stack with EKD_STACK_PAINT (0xA5A5A5A5) below the stack pointer, then hand over to C
 * (riscv_start.c). Every trap goes to ekd_trap_entry, which reports it and exits.
 */
    .section .text.ekd_start, "ax"
    .globl ekd_start
ekd_start:
    .option push
    .option norelax
    la sp, __ekd_stack_top
    .option pop
    la t0, ekd_trap_entry
    csrw mtvec, t0
    la t0, __ekd_stack_limit
    li t1, 0xA5A5A5A5
1:
    bgeu t0, sp, 2f
    sw t1, 0(t0)
    addi t0, t0, 4
    j 1b
2:
    call ekd_start_c
3:
    j 3b

    /* mtvec in direct mode needs 4-byte alignment. The report runs on a fresh stack at the
     * top of the stack region: the firmware exits after it, and the old stack pointer may
     * be what went wrong (it is passed on). */
    .balign 4
    .globl ekd_trap_entry
ekd_trap_entry:
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    mv a3, ra
    mv a4, sp
    .option push
    .option norelax
    la sp, __ekd_stack_top
    .option pop
    call ekd_trap_report
4:
    j 4b
