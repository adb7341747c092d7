# tandem-zonegen: deterministic TLD-shaped test zones (plain C, libc only).
# Included from src/tools/CMakeLists.txt.
add_executable(tandem-zonegen ${CMAKE_CURRENT_LIST_DIR}/tandem-zonegen.c)
install(TARGETS tandem-zonegen RUNTIME DESTINATION bin)
