# fuse_opt and fuse_log, differentially: opt_driver.c is built once against
# LinFsp's headers and libfuse3 and once against the system's libfuse
# (Debian's fuse3.pc), and fuse_opt_differential requires the two
# transcripts to be identical, byte for byte.
#
# This file has two uses. tests/fuse/CMakeLists.txt includes it to define the
# targets and the test; the test runs it again as a script (cmake -P) to
# compare the two drivers' output.

if(CMAKE_SCRIPT_MODE_FILE)
  # ---- script mode: -DOURS= -DREFERENCE= (driver programs),
  # -DOURS_LIB= -DREFERENCE_LIB= (the libraries each must load),
  # -DMIN_CASES= (the least number of cases a transcript must hold).
  foreach(side OURS REFERENCE)
    execute_process(COMMAND ${${side}} --which
                    OUTPUT_VARIABLE loaded OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE rc TIMEOUT 30)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${${side}} --which failed (${rc})")
    endif()
    file(REAL_PATH "${loaded}" loaded_real)
    file(REAL_PATH "${${side}_LIB}" expected_real)
    if(NOT loaded_real STREQUAL expected_real)
      message(FATAL_ERROR "${${side}} loaded fuse_opt from ${loaded} (${loaded_real}), "
                          "expected ${${side}_LIB} (${expected_real})")
    endif()
    message(STATUS "${side}: fuse_opt from ${loaded_real}")

    execute_process(COMMAND ${${side}}
                    OUTPUT_VARIABLE ${side}_out ERROR_VARIABLE ${side}_err
                    RESULT_VARIABLE rc TIMEOUT 30)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${${side}} failed (${rc}):\n${${side}_err}")
    endif()
    file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/opt_${side}.txt "${${side}_out}")
  endforeach()

  if(NOT OURS_out STREQUAL REFERENCE_out OR NOT OURS_err STREQUAL REFERENCE_err)
    execute_process(COMMAND diff -u --text opt_REFERENCE.txt opt_OURS.txt
                    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
                    OUTPUT_VARIABLE difference)
    message(FATAL_ERROR "LinFsp's fuse_opt differs from the system's libfuse "
                        "(- system, + LinFsp):\n${difference}\n"
                        "stderr, system: '${REFERENCE_err}'\nstderr, LinFsp: '${OURS_err}'")
  endif()

  string(REGEX MATCHALL "(^|\n)case [0-9]+:" cases "${OURS_out}")
  list(LENGTH cases case_count)
  if(case_count LESS MIN_CASES)
    message(FATAL_ERROR "only ${case_count} cases ran; expected at least ${MIN_CASES}")
  endif()
  message(STATUS "${case_count} cases, identical to the system's libfuse")
  return()
endif()

# ---- configure mode: the two drivers and the test.
enable_language(C)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(linfsp_system_fuse3 QUIET IMPORTED_TARGET fuse3)
endif()
# The reference must be the system's libfuse, not a fuse3.pc of ours that a
# PKG_CONFIG_PATH might put first.
if(linfsp_system_fuse3_FOUND AND NOT linfsp_system_fuse3_INCLUDE_DIRS MATCHES "^${PROJECT_SOURCE_DIR}"
   AND NOT linfsp_system_fuse3_LIBDIR MATCHES "^${PROJECT_BINARY_DIR}")
  add_executable(fuse_opt_driver_ours opt_driver.c)
  target_link_libraries(fuse_opt_driver_ours PRIVATE fuse3)

  add_executable(fuse_opt_driver_reference opt_driver.c)
  target_compile_definitions(fuse_opt_driver_reference PRIVATE OPT_DRIVER_REFERENCE)
  target_link_libraries(fuse_opt_driver_reference PRIVATE PkgConfig::linfsp_system_fuse3)

  add_test(NAME fuse_opt_differential
    COMMAND ${CMAKE_COMMAND}
      -DOURS=$<TARGET_FILE:fuse_opt_driver_ours>
      -DOURS_LIB=$<TARGET_FILE:fuse3>
      -DREFERENCE=$<TARGET_FILE:fuse_opt_driver_reference>
      -DREFERENCE_LIB=${linfsp_system_fuse3_LIBDIR}/libfuse3.so.3
      -DMIN_CASES=60
      -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(fuse_opt_differential PROPERTIES TIMEOUT 120)
else()
  message(STATUS "fuse_opt_differential: no system libfuse3 (fuse3.pc); test not built")
endif()
