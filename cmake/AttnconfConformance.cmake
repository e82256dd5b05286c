# attnconf_add_conformance_tests(ADAPTER <name> [LIBRARIES <libs>...])
#
# Builds `attnconf_conformance_<name>`, one GoogleTest program that registers every property of
# every spec for that adapter, and adds one ctest test per (api, property, adapter), named
# `<api>.<Property>_<adapter>` and labelled `conformance`, `api=<api>`, `property=<Property>`,
# `kind=<accuracy|error_contract>` and `adapter=<name>`. The test list is written by the program
# itself after each build (and again when a spec file changes), so adding a spec adds tests.
set(ATTNCONF_CONFORMANCE_MAIN "${CMAKE_CURRENT_LIST_DIR}/../tests/conformance/main.cpp")

function(attnconf_add_conformance_tests)
  cmake_parse_arguments(ARG "" "ADAPTER" "LIBRARIES" ${ARGN})
  set(target attnconf_conformance_${ARG_ADAPTER})
  add_executable(${target} ${ATTNCONF_CONFORMANCE_MAIN})
  target_compile_definitions(${target} PRIVATE ATTNCONF_ADAPTER="${ARG_ADAPTER}")
  target_link_libraries(${target} PRIVATE attnconf_report GTest::gtest ${ARG_LIBRARIES})

  file(GLOB spec_files CONFIGURE_DEPENDS "${ATTNCONF_SPEC_DIR}/*.yaml")
  set(list_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake")
  add_custom_command(
    OUTPUT "${list_file}"
    COMMAND ${target} "--attnconf-ctest-file=${list_file}" "--attnconf-exe=$<TARGET_FILE:${target}>"
    DEPENDS ${target} ${spec_files}
    COMMENT "Listing conformance tests of ${target}"
    VERBATIM)
  add_custom_target(${target}_list ALL DEPENDS "${list_file}")

  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")
  file(WRITE "${include_file}"
       "if(EXISTS \"${list_file}\")\n  include(\"${list_file}\")\nelse()\n"
       "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
