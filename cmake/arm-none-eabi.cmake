# Toolchain file for bare-metal Arm Cortex-M with the GNU Arm Embedded toolchain
# (Debian: gcc-arm-none-eabi, libnewlib-arm-none-eabi).
#
#   cmake -B build -DCMAKE_TOOLCHAIN_FILE=path/to/edgekd/cmake/arm-none-eabi.cmake \
#         [-DEDGEKD_ARM_CPU=cortex-m55]
#
# Executables link against newlib with --specs=nosys.specs (stub system calls); give your
# board's linker script with target_link_options(app PRIVATE -T board.ld).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy)
set(CMAKE_SIZE arm-none-eabi-size)

# Compiler checks build a static library: a test executable would need a linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(EDGEKD_ARM_CPU cortex-m4 CACHE STRING
    "value of -mcpu (cortex-m0plus, cortex-m4, cortex-m55, ...)")
set(CMAKE_C_FLAGS_INIT "-mcpu=${EDGEKD_ARM_CPU} -mthumb -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_ASM_FLAGS_INIT "-mcpu=${EDGEKD_ARM_CPU} -mthumb")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nosys.specs -Wl,--gc-sections")

# Find libraries and headers in the target's sysroot only, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
