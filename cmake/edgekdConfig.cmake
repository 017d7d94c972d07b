# find_package(edgekd) support: `cmake -Dedgekd_DIR="$(edgekd cmake-dir)"` (or add that
# folder to CMAKE_PREFIX_PATH). Gives edgekd::runtime and edgekd_add_model(); the runtime is
# compiled from source with the consumer's toolchain, so it fits any core.
#
#   find_package(edgekd REQUIRED)
#   add_executable(app main.c)
#   edgekd_add_model(app ${CMAKE_CURRENT_SOURCE_DIR}/model)   # from `edgekd compile`
include("${CMAKE_CURRENT_LIST_DIR}/edgekd.cmake")
set(edgekd_TOOLCHAIN_DIR "${CMAKE_CURRENT_LIST_DIR}")  # arm-none-eabi.cmake, riscv64-unknown-elf.cmake
