# Toolchain file for bare-metal 32-bit RISC-V with the riscv64-unknown-elf GCC (it targets
# RV32 with -march/-mabi; Debian: gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf).
#
#   cmake -B build -DCMAKE_TOOLCHAIN_FILE=path/to/edgekd/cmake/riscv64-unknown-elf.cmake \
#         [-DEDGEKD_RISCV_ARCH=rv32imac -DEDGEKD_RISCV_ABI=ilp32]
#
# Sources compile and executables link against picolibc (its specs file); give your board's linker script with
# target_link_options(app PRIVATE -T board.ld).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv)

set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_CXX_COMPILER riscv64-unknown-elf-g++)
set(CMAKE_ASM_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_AR riscv64-unknown-elf-ar)
set(CMAKE_RANLIB riscv64-unknown-elf-ranlib)
set(CMAKE_OBJCOPY riscv64-unknown-elf-objcopy)
set(CMAKE_SIZE riscv64-unknown-elf-size)

# Compiler checks build a static library: a test executable would need a linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# -misa-spec=2.2: CSR instructions without the _zicsr suffix, as the rv32imac multilib of
# picolibc expects (boards/rv32/board.toml does the same).
set(EDGEKD_RISCV_ARCH rv32imac CACHE STRING "value of -march")
set(EDGEKD_RISCV_ABI ilp32 CACHE STRING "value of -mabi")
set(CMAKE_C_FLAGS_INIT "-march=${EDGEKD_RISCV_ARCH} -mabi=${EDGEKD_RISCV_ABI} -misa-spec=2.2 -mcmodel=medany --specs=picolibc.specs -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_ASM_FLAGS_INIT "-march=${EDGEKD_RISCV_ARCH} -mabi=${EDGEKD_RISCV_ABI}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections")

# Find libraries and headers in the target's sysroot only, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
